"""What the SSH and AWS backends share once they can name a machine's SSH target: probing,
the runner, rsync, tunnels, and the wheelhouse that carries packages to air-gapped hosts."""
