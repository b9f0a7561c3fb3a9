"""Writes a file larger than a call may write."""


def start_workers(n, target=None):
    chunk = b"x" * (1024 * 1024)
    with open("big.bin", "wb") as f:
        for _ in range(200):
            f.write(chunk)
    return "wrote 200 MB"
