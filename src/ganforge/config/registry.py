"""Settings per component: an architecture, a method or a translation mode registers its own
settings dataclass by name, and the section's discriminator key (`model.arch`, `method.name`,
`translation.mode`) picks it when a config is read.

This module is the lowest layer: it imports no component. The registries are filled when the
component modules are imported; `import ganforge` imports them all (`ganforge.training.validation`, which the API imports), so a
config read through the package always sees every built-in component.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from ganforge.errors import GanforgeError

T = TypeVar("T")

# section -> component name -> settings class
COMPONENTS: dict[str, dict[str, type]] = {}
WHAT = {"model": "architectures", "method": "methods", "translation": "translation modes"}


class Dispatched:
    """Mixin of a section's base settings (ModelConfig, MethodConfig, TranslationConfig).

    `section` and `key` name the section and its discriminator field. Constructing the base with
    arguments builds the registered subclass that the discriminator names, so that
    `ModelConfig(arch="mlp", hidden=[30])` keeps working as it did when the config was flat.
    """

    section: ClassVar[str] = ""
    key: ClassVar[str] = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # without arguments (copy, pickle) every class builds itself: no dispatch
        if (args or kwargs) and "section" in cls.__dict__:
            name = args[0] if args else kwargs.get(cls.key, discriminator_default(cls))
            sub = COMPONENTS.get(cls.section, {}).get(name)
            if sub is not None:
                return super().__new__(sub)
        return super().__new__(cls)

    def check(self, config: Any = None) -> None:
        """Rules among this component's settings and the rest of `config` (`validate_config`);
        they import nothing above the component and build nothing. Default: none."""


def section_base(cls: type) -> type:
    """The dispatched base class (ModelConfig, ...) that `cls` derives from."""
    for klass in cls.__mro__:
        if "section" in klass.__dict__ and klass is not Dispatched:
            return klass
    raise TypeError(f"{cls.__name__} does not derive from a dispatched section base")


def is_dispatched(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, Dispatched) and cls is not Dispatched


def discriminator_default(cls: type) -> str:
    return cls.__dataclass_fields__[section_base(cls).key].default


def register(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator (outside @dataclass): `cls` holds the settings of component `name`."""

    def add(cls: type[T]) -> type[T]:
        base = section_base(cls)
        if not dataclasses.is_dataclass(cls) or discriminator_default(cls) != name:
            raise TypeError(f"{cls.__name__} must be a dataclass whose {base.key} defaults to '{name}'")
        table = COMPONENTS.setdefault(base.section, {})
        old = table.get(name)
        if old is not None and old.__qualname__ != cls.__qualname__:  # a reload re-registers
            raise TypeError(f"{base.section}.{base.key} '{name}' is registered twice")
        table[name] = cls
        return cls

    return add


def component(base: type, name: Any, prefix: str = "") -> type:
    """The settings class registered as `name` in `base`'s section, or a one-line error."""
    key = f"{prefix}{base.key}"
    if not isinstance(name, str):
        raise GanforgeError(f"config key '{key}' must be a string, got {name!r}")
    table = COMPONENTS.get(base.section, {})
    if name in table:
        return table[name]
    if not table:
        raise GanforgeError(
            f"unknown {key} '{name}': no {WHAT[base.section]} are registered yet; "
            "import ganforge (it registers the built-in components) before reading configs"
        )
    raise GanforgeError(f"unknown {key} '{name}'; available: {', '.join(sorted(table))}")


def available(section: str) -> list[str]:
    return sorted(COMPONENTS.get(section, {}))


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
