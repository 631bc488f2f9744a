"""`FastCharts`: the charts of successive epochs, drawn for a fraction of a fresh figure's cost."""

from __future__ import annotations

import dataclasses
from functools import cache

from matplotlib import font_manager, ft2font

from epoch_eval.charts.render import chart_png
from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.metrics.result import Evaluation

MISSING_GLYPH = "\ufffd"


class FastCharts:
    """Draws chart PNGs for one `fit`, keeping what does not change between epochs.

    Not thread-safe: one drawing thread at a time. `take_notes()` returns what the user
    should be told (such as class names the font cannot show), once.
    """

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}

    def png(self, name: str, evaluation: Evaluation, epoch: int) -> bytes:
        """Chart `name` of `evaluation`, titled with `epoch`, as PNG bytes."""
        evaluation = thin_evaluation(self._font_safe(evaluation))
        return chart_png(name, evaluation, epoch=epoch)

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    def _font_safe(self, evaluation: Evaluation) -> Evaluation:
        """`evaluation` with the characters of class names that the font lacks replaced by
        U+FFFD (Matplotlib would print a warning per chart on the user's terminal), said once."""
        names = evaluation.class_names
        if names not in self._names:
            safe = tuple("".join(c if has_glyph(c) else MISSING_GLYPH for c in name)
                         for name in names)
            changed = [name for name, new in zip(names, safe, strict=True) if name != new]
            if changed:
                self._notes.append(f"the chart font ({default_font_name()}) cannot show some "
                                   f"characters of the class names {changed[:5]}; they are "
                                   f"drawn as {MISSING_GLYPH}")
            self._names[names] = safe
        safe = dict(zip(names, self._names[names], strict=True))
        if all(name == new for name, new in safe.items()):
            return evaluation
        return dataclasses.replace(
            evaluation, class_names=tuple(safe.values()),
            roc_curves=tuple(dataclasses.replace(c, label=safe.get(c.label, c.label))
                             for c in evaluation.roc_curves),
            pr_curves=tuple(dataclasses.replace(c, label=safe.get(c.label, c.label))
                            for c in evaluation.pr_curves))


@cache
def _default_font() -> ft2font.FT2Font:
    return ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))


def default_font_name() -> str:
    return str(_default_font().family_name)


@cache
def has_glyph(character: str) -> bool:
    """Whether Matplotlib's default font draws `character` (controls count as drawable)."""
    return not character.isprintable() or _default_font().get_char_index(ord(character)) != 0
