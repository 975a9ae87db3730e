"""
RL Zoo integration: ``python -m rl_zoo3.train --algo dsace ...`` works after ``pip install``.

The zoo has no plugin mechanism, so a ``.pth`` file installs :func:`sb3_tecrl.zoo.hook.install` at interpreter start:
a one-shot import hook that calls :func:`sb3_tecrl.zoo.registration.register` right after ``rl_zoo3`` is imported
(before any zoo argument parser runs). Set ``SB3_TECRL_NO_ZOO_HOOK=1`` to switch it off; ``python -m sb3_tecrl.zoo``
is the explicit route that needs no hook.
"""
