"""Fence geometry: GeoJSON in and out, validation with reasons, local metric projection, compiled areas.

Distances are in metres on WGS-84 through a local equirectangular projection centred on each area
(x = Δlon·N(φ0)·cos φ0, y = Δlat·M(φ0), with the ellipsoid's radii of curvature at the centre). Over
the latitude band an area covers, the projection's scale differs from the true one by at most
`scale_error` (the worst east-west or north-south scale ratio at the band's edges), so distances
near the area are off by at most that fraction: 0.07 % over Haicang district and 2.5 km around
it (a 100 m margin is right to 7 cm), 0.7 % over the 200 km Xiamen–Fuzhou travel corridor (35 m
on its 5 km half-width). Far from an area the error grows, but there only the sign matters.
Areas crossing the antimeridian are rejected rather than projected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely  # type: ignore[import-untyped]  # shapely 2.2 ships no type information
from shapely.geometry import LineString, MultiPolygon, Polygon, mapping  # type: ignore[import-untyped]

Geometry = Any
"""A shapely geometry (shapely carries no type information)."""

# WGS-84
_A: Final = 6378137.0
_F: Final = 1 / 298.257223563
_E2: Final = _F * (2 - _F)

INSIDE: Final = 1
OUTSIDE: Final = 2
NEAR: Final = 0
"""`Area.classify` results: inside by more than the inner margin, outside by more than the outer one, or neither."""

_GRID_UNIT_M: Final = 20.0
_GRID_MAX_STEPS: Final = 127
_GRID_MARGIN_M: Final = _GRID_UNIT_M * _GRID_MAX_STEPS


# --- validation -------------------------------------------------------------------------------------


def _at(x: float, y: float) -> str:
    return f"({round(x, 6)!r}, {round(y, 6)!r})"


def _position(value: object, where: str) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) < 2:
        raise ValueError(f"{where} must be [longitude, latitude], got {value!r}")
    lon, lat = value[0], value[1]
    for name, v in (("longitude", lon), ("latitude", lat)):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}: {name} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{where}: {name} {v!r} is not a finite number")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon!r} out of range [-180, 180] at {where}")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat!r} out of range [-90, 90] at {where}")
    return float(lon), float(lat)


def _ring(value: object, where: str) -> list[tuple[float, float]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where} must be a list of positions, got {value!r}")
    points = [_position(p, f"{where} position {i}") for i, p in enumerate(value)]
    if len(points) < 4:
        raise ValueError(f"{where} has {len(points)} positions: a closed ring needs at least 4")
    if points[0] != points[-1]:
        raise ValueError(
            f"{where} is not closed: first position {_at(*points[0])} differs from last {_at(*points[-1])}"
        )
    return points


def _polygon(value: object, where: str) -> Polygon:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where} coordinates must be a list of rings, got {value!r}")
    if len(value) == 0:
        raise ValueError(f"empty polygon{'' if where == 'polygon' else ' (' + where + ')'}")
    rings = [_ring(r, f"{where} ring {i}") for i, r in enumerate(value)]
    return Polygon(rings[0], rings[1:])


_REASONS: Final = {
    "Self-intersection": "polygon ring is self-intersecting",
    "Ring Self-intersection": "polygon ring is self-intersecting",
    "Hole lies outside shell": "polygon hole lies outside its shell",
    "Nested holes": "polygon holes are nested",
    "Interior is disconnected": "polygon interior is disconnected (holes cut it apart)",
    "Nested shells": "multipolygon parts are nested",
    "Duplicate Rings": "polygon has duplicate rings",
    "Too few points": "polygon ring has too few distinct positions",
    "Ring is not closed": "polygon ring is not closed",
}
_REASON_RE: Final = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>\S+) (?P<y>\S+)\]$")


def _explain(geometry: Geometry, where: str) -> str | None:
    reason = str(shapely.is_valid_reason(geometry))
    if reason == "Valid Geometry":
        return None
    m = _REASON_RE.match(reason)
    if m is None:
        return f"{where}: invalid polygon: {reason}"
    text = _REASONS.get(m["what"], "invalid polygon: " + m["what"].lower())
    prefix = "" if where == "polygon" else where + ": "
    return f"{prefix}{text} at {_at(float(m['x']), float(m['y']))}"


def _check_span(geometry: Geometry) -> None:
    min_lon, _, max_lon, _ = shapely.bounds(geometry)
    if max_lon - min_lon > 180.0:
        raise ValueError(
            f"area spans {round(float(max_lon - min_lon), 6)!r}° of longitude: more than 180° "
            "(areas across the antimeridian are not supported)"
        )


def validate_geojson(obj: object) -> Geometry:
    """A Polygon or MultiPolygon (shapely, lon/lat) from GeoJSON, or ValueError saying what is wrong.

    Accepts a GeoJSON Polygon, MultiPolygon, or a Feature holding one. Rings must be closed, have at
    least 4 positions, stay within longitude [-180, 180] and latitude [-90, 90], must not
    self-intersect, and the area must not be empty or zero; ring orientation is not enforced
    (RFC 7946 §3.1.6 asks parsers not to).
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a GeoJSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "Feature":
        return validate_geojson(obj.get("geometry"))
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"geometry type {kind!r} is not an area: expected 'Polygon' or 'MultiPolygon'")
    if "coordinates" not in obj:
        raise ValueError(f"{kind} has no 'coordinates'")
    coordinates = obj["coordinates"]
    geometry: Geometry
    if kind == "Polygon":
        geometry = _polygon(coordinates, "polygon")
        problem = _explain(geometry, "polygon")
    else:
        if not isinstance(coordinates, Sequence) or isinstance(coordinates, str):
            raise ValueError(f"MultiPolygon coordinates must be a list of polygons, got {coordinates!r}")
        if len(coordinates) == 0:
            raise ValueError("empty multipolygon")
        parts = [_polygon(p, f"polygon {i}") for i, p in enumerate(coordinates)]
        for i, part in enumerate(parts):
            if (problem := _explain(part, f"polygon {i}")) is not None:
                raise ValueError(problem)
        geometry = MultiPolygon(parts)
        problem = _explain(geometry, "multipolygon")
        if problem is not None:
            problem = _overlap(parts) or problem
    if problem is not None:
        raise ValueError(problem)
    if not float(geometry.area) > 0.0:
        raise ValueError("polygon has zero area")
    _check_span(geometry)
    return geometry


def _overlap(parts: Sequence[Polygon]) -> str | None:
    for i, a in enumerate(parts):
        for j in range(i + 1, len(parts)):
            common = a.intersection(parts[j])
            if not common.is_empty and float(common.area) > 0.0:
                p = common.representative_point()
                return f"multipolygon parts {i} and {j} overlap at {_at(float(p.x), float(p.y))}"
    return None


def validate_route(obj: object) -> Geometry:
    """A LineString (shapely, lon/lat) from GeoJSON for a travel route, or ValueError saying what is wrong."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a GeoJSON object, got {type(obj).__name__}")
    if obj.get("type") == "Feature":
        return validate_route(obj.get("geometry"))
    if obj.get("type") != "LineString":
        raise ValueError(f"route geometry type {obj.get('type')!r} is not a line: expected 'LineString'")
    coordinates = obj.get("coordinates")
    if not isinstance(coordinates, Sequence) or isinstance(coordinates, str) or len(coordinates) < 2:
        raise ValueError(f"route needs at least 2 positions, got {coordinates!r}")
    line = LineString([_position(p, f"route position {i}") for i, p in enumerate(coordinates)])
    if not float(line.length) > 0.0:
        raise ValueError("route has zero length")
    _check_span(line)
    return line


def validate_point(lon: object, lat: object) -> tuple[float, float]:
    """(lon, lat) checked for range and type, or ValueError saying what is wrong (circle centres)."""
    return _position([lon, lat], "centre")


def to_geojson(geometry: Geometry) -> dict[str, Any]:
    """The GeoJSON mapping of a shapely geometry (lists, not tuples, so it serialises as is)."""
    out: dict[str, Any] = _listify(mapping(geometry))
    return out


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listify(v) for v in value]
    return value


# --- projection ------------------------------------------------------------------------------------


def _radii(lat: float) -> tuple[float, float]:
    """Meridional (M) and prime-vertical (N) radii of curvature of WGS-84 at `lat` degrees."""
    s = math.sin(math.radians(lat))
    w = 1.0 - _E2 * s * s
    return _A * (1.0 - _E2) / (w * math.sqrt(w)), _A / math.sqrt(w)


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection in metres around (lon0, lat0), scaled by WGS-84's radii there."""

    lon0: float
    lat0: float
    kx: float  # metres per degree of longitude at lat0
    ky: float  # metres per degree of latitude at lat0

    @classmethod
    def at(cls, lon0: float, lat0: float) -> LocalProjection:
        """The projection centred on (lon0, lat0)."""
        m, n = _radii(lat0)
        return cls(lon0, lat0, math.radians(1.0) * n * math.cos(math.radians(lat0)), math.radians(1.0) * m)

    def forward(self, lon: float, lat: float) -> tuple[float, float]:
        """(x, y) in metres of a lon/lat position."""
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def project(self, geometry: Geometry) -> Geometry:
        """The geometry with every coordinate projected."""
        scale = np.array([self.kx, self.ky])
        origin = np.array([self.lon0, self.lat0])
        return shapely.transform(geometry, lambda c: (c - origin) * scale)

    def unproject(self, geometry: Geometry) -> Geometry:
        """The geometry with every coordinate back in lon/lat."""
        scale = np.array([self.kx, self.ky])
        origin = np.array([self.lon0, self.lat0])
        return shapely.transform(geometry, lambda c: c / scale + origin)

    def scale_error(self, min_lat: float, max_lat: float) -> float:
        """Largest relative error of distances between positions within the latitude band [min_lat, max_lat]."""
        m0, n0 = _radii(self.lat0)
        worst = 0.0
        for lat in (min_lat, max_lat, self.lat0):
            m, n = _radii(lat)
            east = n * math.cos(math.radians(lat)) / (n0 * math.cos(math.radians(self.lat0)))
            north = m / m0
            worst = max(worst, abs(east - 1.0), abs(north - 1.0), abs(1.0 / east - 1.0), abs(1.0 / north - 1.0))
        return worst


# --- compiled areas --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Area:
    """A polygonal area compiled for fast "inside / outside by more than a margin" questions.

    The fast path is a grid over the projected area: each cell byte holds which side of the
    boundary the cell lies on and a lower bound of its distance to the boundary (in 20 m steps,
    up to 2 540 m); only fixes in cells too close to the boundary for the margins asked take the
    exact path (prepared polygon and boundary in shapely). Compile once and share between subjects.
    """

    projection: LocalProjection
    polygon: Geometry  # projected, prepared
    boundary: Geometry  # projected, prepared
    scale_error: float
    grid: bytes
    x0: float
    y0: float
    cell: float
    cols: int
    rows: int

    @classmethod
    def compile(cls, geometry: Geometry, *, margin_m: float = 0.0, max_cells: int = 1 << 16) -> Area:
        """Compile a lon/lat Polygon, MultiPolygon or (with `margin_m` > 0) LineString, grown by `margin_m` metres."""
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in shapely.bounds(geometry))
        projection = LocalProjection.at((min_lon + max_lon) / 2, (min_lat + max_lat) / 2)
        projected = projection.project(geometry)
        if margin_m > 0.0:
            projected = shapely.buffer(projected, margin_m, quad_segs=16)
        if projected.geom_type not in ("Polygon", "MultiPolygon") or projected.is_empty:
            raise ValueError(f"cannot compile an area from {projected.geom_type}")
        boundary = projected.boundary
        shapely.prepare(projected)
        shapely.prepare(boundary)
        bx0, by0, bx1, by1 = (float(v) for v in shapely.bounds(projected))
        reach = _GRID_MARGIN_M + margin_m
        band = reach / projection.ky
        scale_error = projection.scale_error(max(min_lat - band, -90.0), min(max_lat + band, 90.0))
        x0, y0 = bx0 - _GRID_MARGIN_M, by0 - _GRID_MARGIN_M
        width, height = bx1 - bx0 + 2 * _GRID_MARGIN_M, by1 - by0 + 2 * _GRID_MARGIN_M
        cell = max(10.0, math.sqrt(width * height / max_cells))
        cols, rows = math.ceil(width / cell), math.ceil(height / cell)
        grid = _grid(projected, boundary, x0, y0, cell, cols, rows)
        return cls(projection, projected, boundary, scale_error, grid, x0, y0, cell, cols, rows)

    def classify(self, lon: float, lat: float, inner_m: float, outer_m: float) -> int:
        """INSIDE if deeper than `inner_m` inside, OUTSIDE if farther than `outer_m` outside, else NEAR."""
        p = self.projection
        x = (lon - p.lon0) * p.kx
        y = (lat - p.lat0) * p.ky
        col = (x - self.x0) / self.cell
        row = (y - self.y0) / self.cell
        if not (0.0 <= col < self.cols and 0.0 <= row < self.rows):
            return OUTSIDE if outer_m < _GRID_MARGIN_M else self.classify_exact(x, y, inner_m, outer_m)
        code = self.grid[int(row) * self.cols + int(col)]
        if code > _GRID_MAX_STEPS:
            if (code - _GRID_MAX_STEPS - 1) * _GRID_UNIT_M > outer_m:
                return OUTSIDE
        elif code * _GRID_UNIT_M > inner_m:
            return INSIDE
        return self.classify_exact(x, y, inner_m, outer_m)

    def classify_exact(self, x: float, y: float, inner_m: float, outer_m: float) -> int:
        """`classify` for a projected position, by shapely alone (the slow path the grid is checked against)."""
        if shapely.contains_xy(self.polygon, x, y):
            return NEAR if shapely.dwithin(self.boundary, shapely.Point(x, y), inner_m) else INSIDE
        return NEAR if shapely.dwithin(self.polygon, shapely.Point(x, y), outer_m) else OUTSIDE

    def representative_lonlat(self) -> tuple[float, float]:
        """A lon/lat position surely inside the area (where a straight travel corridor starts)."""
        point, p = self.polygon.representative_point(), self.projection
        return float(point.x) / p.kx + p.lon0, float(point.y) / p.ky + p.lat0

    def signed_distance(self, lon: float, lat: float) -> float:
        """Metres from the boundary: positive inside, negative outside (for tests and diagnostics)."""
        x, y = self.projection.forward(lon, lat)
        d = float(shapely.distance(self.boundary, shapely.Point(x, y)))
        return d if shapely.contains_xy(self.polygon, x, y) else -d


def _grid(polygon: Geometry, boundary: Geometry, x0: float, y0: float, cell: float, cols: int, rows: int) -> bytes:
    """One byte per cell: 0..127 inside, 128..255 outside; the value mod 128 floors its distance to the boundary."""
    xs = x0 + cell * np.arange(cols, dtype=float)
    ys = y0 + cell * np.arange(rows, dtype=float)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell, gy.ravel() + cell)
    segments = _segments(boundary)
    tree = shapely.STRtree(segments)
    (box_index, _), distance = tree.query_nearest(boxes, return_distance=True, all_matches=False)
    nearest = np.empty(len(boxes), dtype=float)
    nearest[box_index] = distance
    steps = np.minimum(np.floor(nearest / _GRID_UNIT_M), _GRID_MAX_STEPS).astype(np.uint8)
    inside = shapely.contains_xy(polygon, gx.ravel() + cell / 2, gy.ravel() + cell / 2)
    # a cell the boundary touches (distance 0) is NEAR either way: both encodings of 0 mean "ask shapely"
    codes = np.where(inside, steps, steps + _GRID_MAX_STEPS + 1).astype(np.uint8)
    return codes.tobytes()


def _segments(boundary: Geometry) -> Geometry:
    """The boundary as an array of 2-point LineStrings (so nearest-distance queries are indexed)."""
    lines = shapely.get_parts(boundary)
    out = []
    for line in lines:
        c = shapely.get_coordinates(line)
        out.append(shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)))
    return np.concatenate(out)


@dataclass(frozen=True, slots=True)
class Circle:
    """A circle of `radius_m` metres around (lon, lat), for exclusion zones."""

    projection: LocalProjection
    radius_m: float

    @classmethod
    def compile(cls, lon: float, lat: float, radius_m: float) -> Circle:
        """The circle, with its centre and radius checked."""
        lon, lat = validate_point(lon, lat)
        if not (math.isfinite(radius_m) and radius_m > 0.0):
            raise ValueError(f"circle radius {radius_m!r} m must be a positive number of metres")
        return cls(LocalProjection.at(lon, lat), float(radius_m))

    def classify(self, lon: float, lat: float, inner_m: float, outer_m: float) -> int:
        """INSIDE if deeper than `inner_m` inside, OUTSIDE if farther than `outer_m` outside, else NEAR."""
        p = self.projection
        d = math.hypot((lon - p.lon0) * p.kx, (lat - p.lat0) * p.ky)
        if self.radius_m - d > inner_m:
            return INSIDE
        if d - self.radius_m > outer_m:
            return OUTSIDE
        return NEAR
