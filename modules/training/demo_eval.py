"""Full evaluation of the committed demo model, through the app's own loader and sampler.

    python -m modules.training.demo_eval [--count 100] [--cfg 1 3 5 7] [--sampler "Euler a"]

Prints colour / shape / background agreement for seen and held-out combinations at each CFG,
and how often "a large red circle" comes out red with and without the negative prompt "red".
"""

import argparse
import tempfile
import time

from modules.config.flags import parse_flags
from modules.engine import Engine
from modules.training.evaluation import EvalSettings, evaluate, evaluation_scenes, format_scores, generate
from modules.training.judge import judge


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100, help="scenes per split (seen / held-out)")
    parser.add_argument("--cfg", type=float, nargs="+", default=[1.0, 3.0, 5.0, 7.0])
    parser.add_argument("--sampler", default="Euler a")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="which scenes (the test suite uses 99)")
    args = parser.parse_args(argv)

    engine = Engine.from_flags(parse_flags(["--data-dir", tempfile.mkdtemp()]))
    model = engine.models.get()
    print(f"model {model.info.name} [{model.short_hash}], {args.sampler}, {args.steps} steps, 128x128")
    for cfg in args.cfg:
        settings = EvalSettings(cfg_scale=cfg, sampler=args.sampler, steps=args.steps)
        began = time.time()
        for held_out in (False, True):
            scenes = evaluation_scenes(args.count, held_out=held_out, seed=args.seed)
            scores, _ = evaluate(model, scenes, settings)
            print(f"CFG {cfg:g} " + format_scores("held-out" if held_out else "seen", scores))
        print(f"  ({(time.time() - began) / (2 * args.count):.2f} s/image)")
    prompt = "a large red circle on a white background"
    for negative in ("", "red"):
        settings = EvalSettings(cfg_scale=args.cfg[-1], sampler=args.sampler, negative_prompt=negative)
        red = sum(judge(generate(model, prompt, settings, 500 + s)).colour == "red" for s in range(args.count))
        print(f"CFG {args.cfg[-1]:g} negative {negative!r}: {red}/{args.count} red for {prompt!r}")
    engine.queue.shutdown()


if __name__ == "__main__":
    main()
