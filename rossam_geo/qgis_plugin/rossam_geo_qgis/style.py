"""The style of result layers: outlines over the imagery, and results with a low score flagged dashed.

Results whose ``score`` (the engine's predicted IoU) is below the threshold of the settings ("Flag results
with score below") are drawn with a dashed orange outline, the others with a yellow one, both over a dark
line and without fill, so the object stays visible. The style is rule-based on the ``score`` field; layers
styled here keep the keys of their two rules in a custom property, so a new threshold changes the filters of
those rules (and nothing else: colours chosen since are kept, other layers are left alone).
"""

from __future__ import annotations

from qgis.core import (
    QgsFillSymbol,
    QgsProject,
    QgsRuleBasedRenderer,
    QgsSimpleFillSymbolLayer,
    QgsVectorLayer,
)

#: custom property of the layers styled here: the keys of the low-score rule and of the other results' rule.
STYLE_PROPERTY = "rossam_geo/score_rules"
#: outline colours: results, results with a low score (dashed), and the dark line under both.
OK_COLOUR, LOW_COLOUR, UNDER_COLOUR = "255,220,0,255", "255,110,0,255", "30,30,30,220"


def outline_symbol(colour: str, dashed: bool = False) -> QgsFillSymbol:
    """No fill; a ``colour`` outline (dashed or solid) over a dark one, visible over any imagery."""
    outline = {"style": "no", "outline_width_unit": "MM"}
    symbol = QgsFillSymbol.createSimple({**outline, "outline_color": UNDER_COLOUR, "outline_width": "1.0"})
    top = {
        **outline,
        "outline_color": colour,
        "outline_width": "0.5",
        "outline_style": "dash" if dashed else "solid",
    }
    symbol.appendSymbolLayer(QgsSimpleFillSymbolLayer.create(top))
    return symbol


def low_score_filter(min_score: float) -> str:
    """The expression selecting results scored below ``min_score`` (none when it is 0 or less)."""
    return f'"score" IS NOT NULL AND "score" < {float(min_score)!r}'


def apply_outline_style(layer: QgsVectorLayer, min_score: float) -> None:
    """Style ``layer``: yellow outlines, dashed orange ones for scores below ``min_score``."""
    root = QgsRuleBasedRenderer.Rule(None)
    low = QgsRuleBasedRenderer.Rule(outline_symbol(LOW_COLOUR, dashed=True))
    others = QgsRuleBasedRenderer.Rule(outline_symbol(OK_COLOUR))
    root.appendChild(low)
    root.appendChild(others)
    _set_threshold(low, others, min_score)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    layer.setCustomProperty(STYLE_PROPERTY, f"{low.ruleKey()},{others.ruleKey()}")
    layer.triggerRepaint()


def _set_threshold(
    low: QgsRuleBasedRenderer.Rule, others: QgsRuleBasedRenderer.Rule, min_score: float
) -> None:
    low.setFilterExpression(low_score_filter(min_score))
    low.setLabel(f"score below {min_score:g}")
    others.setFilterExpression(
        f"NOT ({low_score_filter(min_score)})"
    )  # not ELSE: symbolsForFeature matches it
    others.setLabel("ROS-SAM result")


def set_score_threshold(layer: QgsVectorLayer, min_score: float) -> bool:
    """Flag the scores below ``min_score`` in a layer styled here; False (nothing changed) for other layers
    and for layers whose two rules are gone."""
    keys = str(layer.customProperty(STYLE_PROPERTY) or "").split(",")
    renderer = layer.renderer()
    if len(keys) != 2 or not isinstance(renderer, QgsRuleBasedRenderer):
        return False
    low, others = (renderer.rootRule().findRuleByKey(key) for key in keys)
    if low is None or others is None:
        return False
    _set_threshold(low, others, min_score)
    layer.triggerRepaint()
    return True


def restyle_result_layers(min_score: float) -> int:
    """Give the project's layers styled here the new threshold; returns how many were restyled."""
    layers = QgsProject.instance().mapLayers().values()
    return sum(set_score_threshold(layer, min_score) for layer in layers if isinstance(layer, QgsVectorLayer))
