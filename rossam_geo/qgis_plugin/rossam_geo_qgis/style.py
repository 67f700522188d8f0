"""The style of result layers: outlines over the imagery, and results with a low score flagged dashed.

Results whose ``score`` (the engine's predicted IoU) is below the threshold of the settings ("Flag results
with score below") are drawn with a dashed orange outline, the others with a yellow one, both over a dark
line and without fill, so the object stays visible. The style is rule-based on the ``score`` field; layers
styled here carry a custom property, so a new threshold restyles them (and only them).
"""

from __future__ import annotations

from qgis.core import (
    QgsFillSymbol,
    QgsProject,
    QgsRuleBasedRenderer,
    QgsSimpleFillSymbolLayer,
    QgsVectorLayer,
)

#: custom property of the layers styled here (its value: the score threshold of the style).
STYLE_PROPERTY = "rossam_geo/score_flag"
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
    low = QgsRuleBasedRenderer.Rule(
        outline_symbol(LOW_COLOUR, dashed=True),
        0,
        0,
        low_score_filter(min_score),
        f"score below {min_score:g}",
    )
    root.appendChild(low)
    others = f"NOT ({low_score_filter(min_score)})"  # not ELSE: symbolsForFeature would match it too
    root.appendChild(QgsRuleBasedRenderer.Rule(outline_symbol(OK_COLOUR), 0, 0, others, "ROS-SAM result"))
    layer.setRenderer(QgsRuleBasedRenderer(root))
    layer.setCustomProperty(STYLE_PROPERTY, float(min_score))
    layer.triggerRepaint()


def restyle_result_layers(min_score: float) -> int:
    """Give the project's layers styled here the new threshold; returns how many were restyled."""
    count = 0
    for layer in QgsProject.instance().mapLayers().values():
        if isinstance(layer, QgsVectorLayer) and layer.customProperty(STYLE_PROPERTY) is not None:
            apply_outline_style(layer, min_score)
            count += 1
    return count
