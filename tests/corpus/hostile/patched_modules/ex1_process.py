"""Patches what a result channel could be built on: pickle, os.write, os._exit, time.sleep."""
import os
import pickle
import time

pickle.dumps = lambda *args, **kwargs: b"garbage"
os.write = lambda fd, data: len(data)
os._exit = lambda code: None
time.sleep = lambda seconds: None


def start_workers(n, target=None):
    return "real"
