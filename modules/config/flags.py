"""Command-line flags with AUTOMATIC1111's names, so users' launch scripts keep working."""

import argparse
from collections.abc import Sequence

DEFAULT_PORT = 7860
DEFAULT_API_ONLY_PORT = 7861


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
    parser.add_argument("--outdir", default=None, help="where generated images are saved (default DATA/outputs)")
    parser.add_argument(
        "--use-cpu",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="run these modules on the CPU; 'all' runs everything there",
    )
    parser.add_argument("--device-id", default=None, help="CUDA device index to use")
    parser.add_argument("--no-half", action="store_true", help="keep models in fp32 on GPUs too")
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
        "--enable-insecure-extension-access",
        action="store_true",
        help="allow installing and updating extensions from the UI even when listening beyond localhost",
    )
    return parser


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


def listens_beyond_localhost(flags) -> bool:
    return flags.server_name not in ("127.0.0.1", "localhost", "::1")


def _fill_defaults(flags: argparse.Namespace) -> argparse.Namespace:
    if flags.port is None:
        flags.port = DEFAULT_API_ONLY_PORT if flags.nowebui else DEFAULT_PORT
    if flags.server_name is None:
        flags.server_name = "0.0.0.0" if flags.listen else "127.0.0.1"
    if flags.nowebui:
        flags.api = True
    return flags
