"""One all-reduce across every process torchrun started on every node (gloo: CPU is enough).

torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT for each process it starts;
init_process_group("gloo") reads them.
"""

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
print(f"rank {dist.get_rank()} of {dist.get_world_size()}: sum {value.item()}", flush=True)
dist.destroy_process_group()
