"""Write a few scalars as TensorBoard event files into $ROOST_TENSORBOARD_LOGDIR (default runs/),
with TensorBoard's own writer: no TensorFlow or PyTorch needed."""

import math
import os
import sys
import time

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

run = sys.argv[1] if len(sys.argv) > 1 else "exp1"
writer = EventFileWriter(os.path.join(os.environ.get("ROOST_TENSORBOARD_LOGDIR", "runs"), run))
for step in range(20):
    loss = 2.0 * math.exp(-step / 5)
    summary = Summary(value=[Summary.Value(tag="loss", simple_value=loss)])
    writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
writer.close()
print(f"wrote 20 steps of 'loss' to run {run}")
