"""
The import hook installed at interpreter start by ``sb3_tecrl_zoo.pth``.

It costs one entry in ``sys.meta_path`` and imports nothing but itself and its (empty) parent packages: ``os`` and
``sys`` are loaded at every start already, and everything else (``importlib.util``, ``warnings``, registration, which
imports torch, SB3 and the zoo) is imported only when a program imports ``rl_zoo3``. Whatever fails is turned into a
warning, never an error.
"""

import os
import sys

OFF_SWITCH = "SB3_TECRL_NO_ZOO_HOOK"
ZOO_PACKAGE = "rl_zoo3"
TYPE_CHECKING = False  # typing's own flag would cost importing typing at every interpreter start
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType


class ZooImportHook:
    """
    A ``sys.meta_path`` finder (by protocol: subclassing ``importlib.abc.MetaPathFinder`` would import
    ``importlib.abc`` at every start) that finds nothing itself: when ``rl_zoo3`` is imported, it lets the other finders
    locate it and registers after.
    """

    def find_spec(self, fullname: str, path: object = None, target: "ModuleType | None" = None) -> "ModuleSpec | None":
        if fullname != ZOO_PACKAGE:
            return None
        import importlib.util

        uninstall()  # one shot, and the lookup below must not find this hook again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module: "ModuleType") -> None:
                exec_module(module)
                register_safely()

            spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


def switched_off() -> bool:
    """:return: whether ``SB3_TECRL_NO_ZOO_HOOK`` is set (to anything but ``0``)"""
    return os.environ.get(OFF_SWITCH, "").strip() not in ("", "0")


def install() -> None:
    """Install the hook, unless ``SB3_TECRL_NO_ZOO_HOOK`` is set; register at once if ``rl_zoo3`` is already imported."""
    if switched_off():
        return
    if ZOO_PACKAGE in sys.modules:
        register_safely()
    elif not any(isinstance(finder, ZooImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, ZooImportHook())


def uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, ZooImportHook)]


def register_safely() -> None:
    """Register dsace/dsact with the zoo; on any failure warn (with the off switch) instead of breaking the program."""
    try:
        from sb3_tecrl.zoo.registration import register

        register()
    except Exception as error:
        import warnings

        warnings.warn(
            f"sb3-tecrl could not register dsace/dsact with the RL Zoo ({error!r}); the zoo runs without them. "
            f"Set {OFF_SWITCH}=1 to silence this, or use `python -m sb3_tecrl.zoo`.",
            stacklevel=2,
        )
