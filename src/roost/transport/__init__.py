"""How roost reaches a machine: one Runner contract and one Result (``base``), run here
(``local``) or over OpenSSH (``ssh``: targets, host keys, runner, tunnels), and rsync."""
