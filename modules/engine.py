"""The engine object: paths, models, the job queue and the saver, passed to UI and API.

Nothing here is a module-level global: a test can build two engines side by side.
"""

from dataclasses import dataclass

from modules.config.paths import Paths
from modules.images.saving import ImageSaver
from modules.jobs import Job, JobQueue
from modules.models.manager import ModelManager
from modules.processing.request import Txt2ImgRequest


@dataclass
class Engine:
    paths: Paths
    models: ModelManager
    queue: JobQueue
    saver: ImageSaver

    @classmethod
    def from_flags(cls, flags) -> "Engine":
        paths = Paths.from_flags(flags)

        def device_policy():
            from modules.memory import DevicePolicy

            return DevicePolicy.from_flags(flags)

        models = ModelManager(
            paths.checkpoint_dirs,
            paths.cache_dir,
            device_policy,
            preferred=flags.ckpt,
            bundled=paths.bundled_checkpoints,
        )
        return cls(paths=paths, models=models, queue=JobQueue(), saver=ImageSaver())

    def submit_txt2img(self, request: Txt2ImgRequest) -> Job:
        def work(job: Job):
            from modules.processing import txt2img

            return txt2img.run(request, self, job)

        return self.queue.submit(work, description=f"txt2img: {request.prompt[:60]}")

    def submit_model_switch(self, wanted: str) -> Job:
        """Switching goes through the queue too, so it never swaps weights under a running job."""
        return self.queue.submit(lambda job: self.models.get(wanted), description=f"load {wanted}")

    def preload(self) -> Job:
        """Load the default checkpoint in the background so the first Generate is fast.
        Raises LookupError (saying where to put one) when there is no checkpoint."""
        self.models.default_checkpoint()
        return self.queue.submit(lambda job: self.models.get(None), description="load default checkpoint")
