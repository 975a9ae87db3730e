"""
The explicit route to the RL Zoo, for those who prefer no import hook:

    python -m sb3_tecrl.zoo train --algo dsace --env Pendulum-v1
    python -m sb3_tecrl.zoo enjoy --algo dsace --env Pendulum-v1 -f logs/

It registers dsace/dsact, then runs the zoo program ``rl_zoo3.<command>`` with the remaining arguments.
"""

import runpy
import sys

from sb3_tecrl.zoo.registration import register

COMMANDS = ("train", "enjoy", "record_video", "record_training", "push_to_hub", "load_from_hub")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python -m sb3_tecrl.zoo {{{','.join(COMMANDS)}}} [zoo arguments]")
    program = f"rl_zoo3.{sys.argv[1]}"
    register()
    sys.argv = [program, *sys.argv[2:]]
    runpy.run_module(program, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
