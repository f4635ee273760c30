"""A progress bar with loss and ETA that also reads well in a nohup log."""

import sys
import time

from tqdm import tqdm


class TrainingProgress:
    def __init__(self, total: int, start: int = 0, label: str = "train", log_every_s: float = 60.0):
        interactive = sys.stderr.isatty()
        self._bar = tqdm(total=total, initial=start, desc=label, dynamic_ncols=True, disable=not interactive)
        self._label, self._total, self._start = label, total, start
        self._began = time.time()
        self._last_log = 0.0
        self._log_every = log_every_s
        self.smoothed_loss: float | None = None

    def update(self, step: int, loss: float, **extra) -> None:
        self.smoothed_loss = loss if self.smoothed_loss is None else 0.98 * self.smoothed_loss + 0.02 * loss
        self._bar.update(step - self._bar.n)
        self._bar.set_postfix(loss=f"{self.smoothed_loss:.4f}", **extra, refresh=False)
        now = time.time()
        if now - self._last_log >= self._log_every or step == self._total:
            self._last_log = now
            done = step - self._start
            rate = done / max(1e-9, now - self._began)
            eta = (self._total - step) / rate if rate > 0 else float("inf")
            fields = " ".join(f"{k} {v}" for k, v in extra.items())
            self.log(
                f"step {step}/{self._total} loss {self.smoothed_loss:.4f} {fields} "
                f"{rate:.2f} it/s eta {eta / 60:.1f} min"
            )

    def log(self, message: str) -> None:
        tqdm.write(f"[{self._label} {time.strftime('%H:%M:%S')}] {message}", file=sys.stdout)
        sys.stdout.flush()

    def close(self) -> None:
        self._bar.close()
