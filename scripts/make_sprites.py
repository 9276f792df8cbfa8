#!/usr/bin/env python3
"""Writes the default sprite's icons (data/sprites/default/*.svg), drawn for citygrid
and licensed under the project's licence (Apache-2.0). Each icon is a 20 x 20 SVG: a
coloured disc (or square) with a white pictogram, no text (no font needed). The server
packs them into the sprite sheet (spreet) at 1x and 2x; run this again after changing
a drawing: python3 scripts/make_sprites.py"""
import os

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sprites", "default")
W = 'stroke="#fff" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" fill="none"'
F = 'fill="#fff"'


def disc(colour):
    return f'<circle cx="10" cy="10" r="9" fill="{colour}" stroke="#fff" stroke-width="1"/>'


def square(colour):
    return f'<rect x="1" y="1" width="18" height="18" rx="4" fill="{colour}" stroke="#fff" stroke-width="1"/>'


def svg(body):
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 20 20">'
            + body + "</svg>\n")


MANHOLE = f'<circle cx="10" cy="10" r="5.2" {W}/><path d="M6.5 8.2h7M6.5 11.8h7M8.2 6.5v7M11.8 6.5v7" stroke="#fff" stroke-width="1" fill="none"/>'
P_LETTER = f'<path d="M8 15V5h3.2a3 3 0 0 1 0 6H8" {W}/>'
PERSON = f'<circle cx="10" cy="5.6" r="1.6" {F}/><path d="M7.6 8.2h4.8l-.8 4.6h-.9V16H9.3v-3.2h-.9z" {F}/>'
TREE = f'<circle cx="10" cy="8" r="4.6" {F}/><path d="M10 11v5" {W}/>'
CROSS = f'<path d="M8.4 4.5h3.2v3.9h3.9v3.2h-3.9v3.9H8.4v-3.9H4.5V8.4h3.9z" {F}/>'

ICONS = {
    # city components (部件), by class; manhole covers by kind (colour)
    "manhole-water": disc("#1f6fd1") + MANHOLE,
    "manhole-sewer": disc("#7a5230") + MANHOLE,
    "manhole-storm": disc("#15909a") + MANHOLE,
    "manhole-power": disc("#d32f2f") + MANHOLE,
    "manhole-lighting": disc("#c79a00") + MANHOLE,
    "manhole-telecom": disc("#7b3fb5") + MANHOLE,
    "manhole-gas": disc("#ef7d00") + MANHOLE,
    "manhole-heat": disc("#c2185b") + MANHOLE,
    "drain-grate": square("#15909a") + f'<rect x="5" y="5" width="10" height="10" {W}/><path d="M8.3 5v10M11.7 5v10" {W}/>',
    "hydrant": disc("#d32f2f") + f'<path d="M7 16h6M7.8 16V8.5h4.4V16M7 8.5h6M8.5 8.5a1.5 1.5 0 0 1 3 0M5.6 11h2.2M12.2 11h2.2" {W}/>',
    "street-lamp": disc("#5f6b7a") + f'<path d="M8 16V6.5a2 2 0 0 1 2-2h2.5" {W}/><path d="M11 6.2h4l-.8 2h-2.4z" {F}/>',
    "power-box": square("#d32f2f") + f'<path d="M11 3.8 6.8 10.6h3.2L9 16.2l4.2-6.8H10z" {F}/>',
    "telecom-cabinet": square("#7b3fb5") + f'<rect x="6" y="8" width="8" height="8" rx="1" {W}/><path d="M7.5 5.5a4 4 0 0 1 5 0" {W}/>',
    "camera": disc("#37474f") + f'<rect x="4.5" y="7.5" width="8" height="5" rx="1" {F}/><path d="M12.5 10l3-2v4z" {F}/>',
    "post-box": disc("#e6a700") + f'<rect x="6" y="5" width="8" height="11" rx="3" {W}/><path d="M8 9h4" {W}/>',
    "bus-stop": square("#1565c0") + f'<rect x="5" y="4.5" width="10" height="10" rx="2" {W}/><path d="M5 10h10M7.3 14.5v1.5M12.7 14.5v1.5" {W}/>',
    "traffic-signal": square("#263238") + '<circle cx="10" cy="5.8" r="1.7" fill="#ff5252"/><circle cx="10" cy="10" r="1.7" fill="#ffd740"/><circle cx="10" cy="14.2" r="1.7" fill="#69f0ae"/>',
    "traffic-sign": disc("#455a64") + f'<path d="M10 4.6 15.4 14H4.6z" fill="#fff"/><path d="M10 8v3" stroke="#d32f2f" stroke-width="1.4" stroke-linecap="round"/>',
    "bollard": disc("#607d8b") + f'<rect x="8" y="5" width="4" height="11" rx="1.5" {F}/><path d="M8 8h4" stroke="#607d8b" stroke-width="1"/>',
    "street-sign": disc("#2e7d32") + f'<rect x="4.5" y="5" width="11" height="5" rx="1" {F}/><path d="M10 10v6" {W}/>',
    "parking-meter": disc("#1565c0") + P_LETTER,
    "waste-bin": disc("#558b2f") + f'<path d="M6.5 7.5h7l-.8 8.5H7.3zM5.5 6h9M8.5 6V4.5h3V6" {W}/>',
    "refuse-point": square("#558b2f") + f'<path d="M5 7.5h10l-1 8.5H6zM4.5 6h11" {W}/><path d="M8.5 10.5h3M8.5 13h3" {W}/>',
    "billboard": disc("#8d6e63") + f'<rect x="4" y="4.5" width="12" height="7" rx="1" {F}/><path d="M7 11.5V16M13 11.5V16" {W}/>',
    "bench": disc("#8d6e63") + f'<path d="M4.5 8.5h11M4.5 11.5h11M6 11.5V15M14 11.5V15" {W}/>',
    "tree": disc("#2e7d32") + TREE,
    "heritage-tree": disc("#1b5e20") + TREE + '<circle cx="10" cy="8" r="1.6" fill="#ffd740"/>',
    "flower-bed": disc("#ad1457") + f'<circle cx="10" cy="6.8" r="2" {F}/><circle cx="6.8" cy="10" r="2" {F}/><circle cx="13.2" cy="10" r="2" {F}/><circle cx="10" cy="13.2" r="2" {F}/><circle cx="10" cy="10" r="1.3" fill="#ffd740"/>',
    "sculpture": disc("#6d4c41") + f'<circle cx="10" cy="5.5" r="1.6" {F}/><path d="M8.5 7.8h3l-.5 5h-2z" {F}/><rect x="6.5" y="13.2" width="7" height="2.6" {F}/>',
    "kiosk": disc("#ef6c00") + f'<path d="M5 8l1.5-3.5h7L15 8zM6.5 8v7.5h7V8" {W}/>',
    "fitness": disc("#00897b") + f'<path d="M6 10h8M5 7.5v5M15 7.5v5M3.8 8.8v2.4M16.2 8.8v2.4" {W}/>',
    "component": disc("#e06666") + f'<circle cx="10" cy="10" r="3" {F}/>',
    # cases (案卷) by status
    "case-new": disc("#d93025") + f'<path d="M10 5v6" {W}/><circle cx="10" cy="14.3" r="1.1" {F}/>',
    "case-active": disc("#ef7d00") + f'<path d="M5 10h9M11 6.5l3.5 3.5-3.5 3.5" {W}/>',
    "case-suspended": disc("#757575") + f'<path d="M8 6v8M12 6v8" {W}/>',
    "case-checking": disc("#1e88e5") + f'<circle cx="10" cy="10" r="5" {W}/><path d="M10 7v3.2l2.2 1.4" {W}/>',
    "case-closed": disc("#2e7d32") + f'<path d="M5.5 10.5 8.5 13.5 14.5 6.8" {W}/>',
    "case-voided": disc("#9e9e9e") + f'<path d="M6.5 6.5l7 7M13.5 6.5l-7 7" {W}/>',
    # points of interest by kind
    "poi-shop": disc("#ac39ac") + f'<path d="M5.5 7.5h9l-.8 8.5H6.3z" {F}/><path d="M8 7.5V6a2 2 0 0 1 4 0v1.5" {W}/>',
    "poi-restaurant": disc("#e07b39") + f'<path d="M7 4.5v11M5.5 4.5v3.5a1.5 1.5 0 0 0 3 0V4.5M13 15.5v-11c-1.6.6-2.3 2.5-2.3 5h2.3" {W}/>',
    "poi-cafe": disc("#8d5a3b") + f'<path d="M5.5 8h7v4a3 3 0 0 1-3 3h-1a3 3 0 0 1-3-3zM12.5 9h1a1.5 1.5 0 0 1 0 3h-1" {W}/>',
    "poi-bar": disc("#e07b39") + f'<path d="M5.5 5h9L10 10.5zM10 10.5V15M7.5 15.5h5" {W}/>',
    "poi-school": disc("#b8860b") + f'<path d="M10 5 3.8 8.2 10 11.4l6.2-3.2z" {F}/><path d="M6.5 10v3c1.8 1.6 5.2 1.6 7 0v-3" {W}/>',
    "poi-hospital": square("#d32f2f") + CROSS,
    "poi-pharmacy": disc("#2e7d32") + CROSS,
    "poi-park": disc("#43a047") + TREE,
    "poi-bank": disc("#546e7a") + f'<path d="M4.5 8 10 4.5 15.5 8zM5 15.5h10M6.5 9v5M10 9v5M13.5 9v5" {W}/>',
    "poi-parking": square("#1565c0") + P_LETTER,
    "poi-toilet": disc("#5c6bc0") + PERSON,
    "poi-hotel": disc("#3949ab") + f'<path d="M4.5 6v9M4.5 12.5h11V15M4.5 10.5h11" {W}/><circle cx="7.5" cy="8.5" r="1.3" {F}/>',
    "poi-museum": disc("#6d4c41") + f'<path d="M4.5 8 10 4.5 15.5 8zM5 15.5h10M7 9v5M10 9v5M13 9v5" {W}/>',
    "poi-worship": disc("#5d4037") + f'<path d="M10 3.8v4M8.3 5.4h3.4M6 16V10l4-2.5 4 2.5v6z" {W}/>',
    "poi-fuel": disc("#455a64") + f'<rect x="5.5" y="5" width="6" height="10.5" rx="1" {W}/><path d="M5.5 9h6M11.5 8l2.5 2v4.5" {W}/>',
    "poi-library": disc("#6a1b9a") + f'<path d="M10 6.5c-1.6-1.2-3.6-1.5-5.5-1v9c1.9-.5 3.9-.2 5.5 1 1.6-1.2 3.6-1.5 5.5-1v-9c-1.9-.5-3.9-.2-5.5 1zM10 6.5v9" {W}/>',
    "poi-police": disc("#1a237e") + f'<path d="M10 4.2 15 6v3.5c0 3.2-2.2 5.4-5 6.3-2.8-.9-5-3.1-5-6.3V6z" {F}/>',
    "poi-post": disc("#e6a700") + f'<rect x="4.5" y="6" width="11" height="8" rx="1" {W}/><path d="M4.5 6.5 10 10.5l5.5-4" {W}/>',
    "poi-cinema": disc("#4a148c") + f'<rect x="4.5" y="6.5" width="8" height="7" rx="1" {F}/><path d="M12.5 10l3-2.2v4.4z" {F}/>',
    "poi-theatre": disc("#880e4f") + f'<path d="M5 5h10v4.5a5 5 0 0 1-10 0z" {F}/>',
    "poi-sport": disc("#00897b") + f'<circle cx="10" cy="10" r="5" {W}/><path d="M5 10h10M10 5c-2.2 2.8-2.2 7.2 0 10M10 5c2.2 2.8 2.2 7.2 0 10" stroke="#fff" stroke-width="1" fill="none"/>',
    "poi-office": disc("#546e7a") + f'<rect x="6" y="4.5" width="8" height="11" rx="0.5" {W}/><path d="M8.3 7.3h.01M11.7 7.3h.01M8.3 10h.01M11.7 10h.01M8.3 12.7h.01M11.7 12.7h.01" stroke="#fff" stroke-width="1.8" stroke-linecap="round"/>',
    "poi-tourism": disc("#0277bd") + f'<circle cx="10" cy="7" r="1.4" {F}/><path d="M10 10v5.5" {W}/><path d="M7.5 10.5h5" {W}/>',
    "poi": disc("#7e57c2") + f'<circle cx="10" cy="10" r="3" {F}/>',
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".svg") and name[:-4] not in ICONS:
            os.remove(os.path.join(OUT, name))
    for name, body in ICONS.items():
        with open(os.path.join(OUT, name + ".svg"), "w") as f:
            f.write(svg(body))
    print(f"{len(ICONS)} icons in {OUT}")


if __name__ == "__main__":
    main()
