"""SSH plumbing over the system OpenSSH client: targets, host keys, runner, tunnels."""
