"""Command-line flags with AUTOMATIC1111's names, so users' launch scripts keep working."""

import argparse
from collections.abc import Sequence

DEFAULT_PORT = 7860
DEFAULT_API_ONLY_PORT = 7861
DEFAULT_MAX_BODY_MB = 64


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="launch.py", description="SD Studio: a local Stable Diffusion web UI")
    parser.add_argument("--port", type=int, default=None, help="port to serve on (7860; 7861 with --nowebui)")
    parser.add_argument("--listen", action="store_true", help="listen on 0.0.0.0 instead of 127.0.0.1")
    parser.add_argument("--server-name", default=None, help="host name or address to bind (overrides --listen)")
    parser.add_argument("--api", action="store_true", help="serve the A1111-compatible HTTP API beside the UI")
    parser.add_argument("--nowebui", action="store_true", help="serve only the API (default port 7861)")
    parser.add_argument("--data-dir", default=None, help="base folder for models/, outputs/ and settings")
    parser.add_argument("--models-dir", default=None, help="folder holding Stable-diffusion/, VAE/, Lora/ ...")
    parser.add_argument("--ckpt", default=None, help="checkpoint to load at start (path or file name)")
    parser.add_argument("--ckpt-dir", default=None, help="extra folder to search for checkpoints")
    parser.add_argument("--vae-dir", default=None, help="extra folder to search for VAE files")
    parser.add_argument("--outdir", default=None, help="where generated images are saved (default DATA/outputs)")
    parser.add_argument(
        "--use-cpu",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="run these on the CPU: all, sd (the checkpoint's UNet, text encoders, VAE), interrogate, gfpgan, "
        "codeformer, bsrgan, esrgan, scunet, swinir, or a part name (unet, vae, text_encoder, upscaler)",
    )
    parser.add_argument("--device-id", default=None, help="CUDA device index to use")
    parser.add_argument("--no-half", action="store_true", help="keep models in fp32 on GPUs too")
    parser.add_argument("--no-half-vae", action="store_true", help="keep the VAE in fp32 on GPUs too")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument(
        "--no-demo-model", action="store_true", help="do not list the bundled demo model beside your checkpoints"
    )
    parser.add_argument("--no-model-preload", action="store_true", help="load the checkpoint on first use")
    parser.add_argument("--disable-all-extensions", action="store_true", help="load no extension, bundled or not")
    parser.add_argument(
        "--disable-extra-extensions", action="store_true", help="load only the extensions that ship with the app"
    )
    parser.add_argument(
        "--theme",
        choices=("dark", "light"),
        default=None,
        help="open the UI in this theme (default: follow the browser's setting)",
    )
    parser.add_argument(
        "--enable-insecure-extension-access",
        action="store_true",
        help="allow installing and updating extensions from the UI even when listening beyond localhost",
    )
    add_attention_flags(parser)
    add_memory_flags(parser)
    add_security_flags(parser)
    return parser


def add_memory_flags(parser: argparse.ArgumentParser) -> None:
    """A1111's memory and precision flags (modules/memory/ reads them). Without a GPU the offload
    flags have nothing to save: the engine says so once and runs normally."""
    group = parser.add_argument_group("memory and precision (see modules/memory/)")
    group.add_argument(
        "--medvram",
        action="store_true",
        help="keep each model part in RAM and move it to the GPU only while it runs (text encoder, UNet, VAE)",
    )
    group.add_argument("--medvram-sdxl", action="store_true", help="as --medvram, for SDXL-family models only")
    group.add_argument(
        "--lowvram", action="store_true", help="as --medvram, and run the UNet one block at a time (slowest)"
    )
    group.add_argument(
        "--lowram", action="store_true", help="read checkpoint weights straight to the GPU, not through RAM"
    )
    group.add_argument(
        "--upcast-sampling",
        action="store_true",
        help="keep the latents in float32 between float16 UNet calls (like --no-half, using less memory)",
    )
    group.add_argument(
        "--precision",
        choices=("full", "half", "autocast"),
        default=None,
        help="full: no autocast; half: float16 without autocast; autocast (default): float16 autocast on GPUs. "
        "The CPU always computes in float32",
    )
    group.add_argument(
        "--memory-budget",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="memory the engine may use on its device, in GiB (default: all of the GPU's, or this machine's RAM)",
    )


def add_attention_flags(parser: argparse.ArgumentParser) -> None:
    """A1111's attention flags (modules/attention.py reads them); scaled dot product is the default."""
    group = parser.add_argument_group("attention (see modules/attention.py)")
    group.add_argument("--opt-sdp-attention", action="store_true", help="scaled dot product attention (default)")
    group.add_argument(
        "--opt-sdp-no-mem-attention", action="store_true", help="scaled dot product without the mem-efficient kernel"
    )
    group.add_argument("--opt-sub-quad-attention", action="store_true", help="attention in query/key chunks")
    group.add_argument("--sub-quad-q-chunk-size", type=positive_int, default=1024, help="queries per chunk")
    group.add_argument("--sub-quad-kv-chunk-size", type=positive_int, default=None, help="keys per chunk (all)")
    group.add_argument(
        "--sub-quad-chunk-threshold", type=positive_int, default=None, help="MiB of scores done in one piece"
    )
    group.add_argument("--opt-split-attention", action="store_true", help="sliced attention, half the heads at once")
    group.add_argument("--disable-opt-split-attention", action="store_true", help="plain, unoptimized attention")
    group.add_argument("--xformers", action="store_true", help="xformers attention (NVIDIA GPU; else falls back)")
    group.add_argument("--force-enable-xformers", action="store_true", help="as --xformers")


def add_security_flags(parser: argparse.ArgumentParser) -> None:
    """Who may reach the server and what it accepts (docs/SECURITY.md). Every flag that carries a
    secret has "auth" in its name: /sdapi/v1/cmd-flags masks those."""
    group = parser.add_argument_group("security (see docs/SECURITY.md)")
    group.add_argument(
        "--gradio-auth",
        default=None,
        metavar="USER:PASS[,USER:PASS]",
        help="require a login for the UI and Gradio's routes (and for the API unless --api-auth is given)",
    )
    group.add_argument(
        "--gradio-auth-path",
        default=None,
        metavar="FILE",
        help="read --gradio-auth entries from a file (comma or newline separated): keeps them out of `ps`",
    )
    group.add_argument(
        "--api-auth",
        default=None,
        metavar="USER:PASS[,USER:PASS]",
        help="credentials for /sdapi and extension routes (default: those of --gradio-auth)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="start even when listening beyond localhost without any authentication",
    )
    group.add_argument(
        "--allowed-hosts",
        default="",
        metavar="HOST[,HOST]",
        help="more Host names the server answers to (loopback, --server-name and, with --listen, this "
        "machine's names and addresses are always allowed); '*' allows any, only behind a proxy that checks Host",
    )
    group.add_argument(
        "--cors-allow-origins",
        default="",
        metavar="ORIGIN[,ORIGIN]",
        help="other web origins (scheme://host[:port]) allowed to call the server from their pages",
    )
    group.add_argument(
        "--cors-allow-origins-regex",
        default=None,
        metavar="REGEX",
        help="allow the web origins this regular expression matches in full, as --cors-allow-origins does",
    )
    group.add_argument(
        "--max-body-size",
        type=positive_int,
        default=DEFAULT_MAX_BODY_MB,
        metavar="MB",
        help=f"largest request body or upload accepted, in MiB (default {DEFAULT_MAX_BODY_MB}); larger ones get 413",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def parse_flags(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse the command line. `parser` lets extensions' flags (add_cli_flags) be parsed too."""
    flags = (parser or build_parser()).parse_args(argv)
    return _fill_defaults(flags)


def parse_known_flags(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The core flags only, ignoring unknown ones: enough to find the data dir and extensions
    before the extensions have added their own flags."""
    flags, _unknown = build_parser().parse_known_args(argv)
    return _fill_defaults(flags)


def extension_mode(flags) -> str:
    if flags.disable_all_extensions:
        return "none"
    return "builtin" if flags.disable_extra_extensions else "all"


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def listens_beyond_localhost(flags) -> bool:
    return flags.server_name not in LOOPBACK_NAMES


def comma_list(value: str | None) -> list[str]:
    """`a, b,,c` -> ["a", "b", "c"]: the A1111 way of giving several values to one flag."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _fill_defaults(flags: argparse.Namespace) -> argparse.Namespace:
    if flags.port is None:
        flags.port = DEFAULT_API_ONLY_PORT if flags.nowebui else DEFAULT_PORT
    if flags.server_name is None:
        flags.server_name = "0.0.0.0" if flags.listen else "127.0.0.1"
    if flags.nowebui:
        flags.api = True
    return flags
