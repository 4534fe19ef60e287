"""Small helpers shared by tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter with the test environment."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=str(REPO)
    )


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the CLI with a wide terminal so that rich does not wrap names inside table cells."""
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "visaudit.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
        env=env,
    )


def cli_argv(*args: str) -> list[str]:
    """The command line that runs the CLI in this interpreter."""
    return [sys.executable, "-m", "visaudit.cli", *args]


def start_and_kill(args: list[str], work: Path, n_done: int, poll: float = 0.05) -> None:
    """Start a CLI run and SIGKILL it once ``n_done`` chunks are finished under ``work``."""
    import signal
    import time

    proc = subprocess.Popen(args, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (len(list(work.glob("*/*.done"))) if work.exists() else 0) >= n_done or proc.poll() is not None:
            break
        time.sleep(poll)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def save_tiny_vit(folder: Path, **processor: object) -> Path:
    """A one-layer ViT for the CIFAR-10 classes, saved as a Hugging Face folder (weights: torch's seed)."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
    )
    ViTForImageClassification(cfg).save_pretrained(folder, safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}, **processor).save_pretrained(folder)
    return Path(folder)
