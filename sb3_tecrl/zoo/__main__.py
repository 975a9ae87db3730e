"""
The explicit route to the RL Zoo, for those who prefer no import hook:

    python -m sb3_tecrl.zoo train --algo dsace --env Pendulum-v1 --num-threads 1
    python -m sb3_tecrl.zoo enjoy --algo dsace --env Pendulum-v1 -f logs/

It registers dsace/dsact, then runs the zoo program ``rl_zoo3.<command>`` with the remaining arguments.
"""

import argparse
import runpy
import sys

from sb3_tecrl.zoo.registration import register

# the zoo programs this route runs, with what each does
COMMANDS = {
    "train": "train an agent, or tune its hyperparameters with -optimize (rl_zoo3.train)",
    "enjoy": "run a trained agent (rl_zoo3.enjoy)",
    "record_video": "record a video of a trained agent (rl_zoo3.record_video)",
    "record_training": "record videos of a training's checkpoints (rl_zoo3.record_training; needs the import hook, "
    "as the programs it starts do not register)",
    "push_to_hub": "upload a trained agent to the Hugging Face Hub (rl_zoo3.push_to_hub)",
    "load_from_hub": "download a trained agent from the Hugging Face Hub (rl_zoo3.load_from_hub)",
}


def build_parser() -> argparse.ArgumentParser:
    """:return: the parser of the command name (the arguments after it go to the zoo program unparsed)"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_tecrl.zoo",
        description="Register dsace and dsact with the RL Zoo, then run one of its programs.",
        epilog="Every argument after the command goes to the zoo program: `python -m sb3_tecrl.zoo train --help` "
        "shows rl_zoo3.train's.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_text in COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> None:
    """
    Run ``rl_zoo3.<command>`` with dsace and dsact registered.

    :param argv: the command and the zoo program's arguments (default: ``sys.argv[1:]``)
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv[:1])  # -h/--help: the help, exit 0; no or an unknown command: its name, exit 2
    program = f"rl_zoo3.{argv[0]}"
    register()
    sys.argv = [program, *argv[1:]]
    runpy.run_module(program, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
