"""Themes and the application: names, colours, short company URLs, defaults and deletion.

The rules, in the API's terms:
- `theme_name` is unique within the application (a UUID is made up when none is given);
  `short_company_url` is unique across every tenant. A clash is 409 `ConflictError`.
- An application holds at most `max_themes` themes (1000 on the live service): 403.
- A theme is in use while rooms refer to it or it is the application's default. Deleting a
  theme in use is refused (400 `could not delete theme`) unless forced; a forced delete
  takes the theme off those rooms and off the application.
- Rooms created without `theme_id` take the application's default theme. A room's links
  carry its theme's `short_company_url`, whatever it is at the time they are read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from .ids import Ids
from .models import Page, Room
from .pagination import SerialIndex

DEFAULT_MAX_THEMES = 1000
THEME_DOMAIN = "VCP"

# The three logo slots of a theme, by logo type: (key field, link field).
LOGO_FIELDS = {
    "colored": ("brand_image_colored", "brand_image_colored_url"),
    "white": ("brand_image_white", "brand_image_white_url"),
    "favicon": ("branded_favicon", "branded_favicon_url"),
}


@dataclass(slots=True, eq=False)
class Theme:
    theme_id: str
    theme_name: str
    account_id: str
    application_id: str
    main_color: str
    brand_text: str
    short_company_url: str | None = None
    domain: str = THEME_DOMAIN
    logos: dict[str, str] = field(default_factory=dict)  # logo type -> storage key


@dataclass(slots=True)
class Application:
    application_id: str
    account_id: str
    default_theme_id: str | None = None


@dataclass(slots=True)
class ThemeSettings:
    """A theme's fields as a request gives them; `fields` names those present."""

    fields: frozenset[str]
    theme_name: str | None = None
    main_color: str | None = None
    brand_text: str | None = None
    short_company_url: str | None = None


RoomsOfTheme = Callable[[str], list[Room]]


class Themes:
    def __init__(
        self,
        ids: Ids,
        application: Application,
        *,
        max_themes: int = DEFAULT_MAX_THEMES,
        taken_short_urls: Callable[[], set[str]] | None = None,
    ) -> None:
        self._ids = ids
        self.application = application
        self.max_themes = max_themes
        self._themes: dict[str, Theme] = {}
        self._rooms: dict[str, SerialIndex] = {}  # theme id -> rooms that use it
        # Short URLs are unique across tenants: other tenants' are asked for here.
        self._taken_elsewhere = taken_short_urls or set

    # -- themes -------------------------------------------------------------------------

    def __contains__(self, theme_id: object) -> bool:
        return theme_id in self._themes

    def all(self) -> list[Theme]:
        return list(self._themes.values())

    def get(self, theme_id: str) -> Theme:
        theme = self._themes.get(theme_id.lower())
        if theme is None:
            raise NotFoundError(f"could not find theme {theme_id}")
        return theme

    def short_url(self, theme_id: str | None) -> str | None:
        theme = self._themes.get(theme_id) if theme_id is not None else None
        return theme.short_company_url if theme is not None else None

    def short_urls(self) -> set[str]:
        return {t.short_company_url for t in self._themes.values() if t.short_company_url}

    def create(self, settings: ThemeSettings) -> Theme:
        if len(self._themes) >= self.max_themes:
            raise ForbiddenError(f"Maximum number of themes for owner ({self.max_themes}) exceeded")
        name = settings.theme_name or self._ids.uuid()
        self._check_unique(name, settings.short_company_url, None)
        assert settings.main_color is not None
        assert settings.brand_text is not None
        theme = Theme(
            theme_id=self._ids.uuid(),
            theme_name=name,
            account_id=self.application.account_id,
            application_id=self.application.application_id,
            main_color=settings.main_color,
            brand_text=settings.brand_text,
            short_company_url=settings.short_company_url,
        )
        self._themes[theme.theme_id] = theme
        self._rooms[theme.theme_id] = SerialIndex()
        return theme

    def update(self, theme_id: str, changes: ThemeSettings) -> Theme:
        theme = self.get(theme_id)
        fields = changes.fields
        name = theme.theme_name
        if "theme_name" in fields:
            name = changes.theme_name or self._ids.uuid()
        short = (
            changes.short_company_url if "short_company_url" in fields else theme.short_company_url
        )
        self._check_unique(name, short, theme)
        theme.theme_name = name
        theme.short_company_url = short
        if changes.main_color is not None:
            theme.main_color = changes.main_color
        if changes.brand_text is not None:
            theme.brand_text = changes.brand_text
        return theme

    def delete(self, theme_id: str, *, force: bool, detach: Callable[[Room], None]) -> None:
        theme = self.get(theme_id)
        rooms = self._rooms[theme.theme_id].rooms()
        in_use = [room for room in rooms if room.is_available]
        is_default = self.application.default_theme_id == theme.theme_id
        if (in_use or is_default) and not force:
            reasons = []
            if in_use:
                plural = "" if len(in_use) == 1 else "s"
                reasons.append(f"Theme {theme.theme_id} is used by {len(in_use)} room{plural}")
            if is_default:
                reasons.append(f"Theme {theme.theme_id} is the application's default theme")
            raise BadRequestError("could not delete theme", reasons)
        for room in rooms:
            detach(room)
        if is_default:
            self.application.default_theme_id = None
        del self._themes[theme.theme_id]
        del self._rooms[theme.theme_id]

    def set_logos(self, theme_id: str, keys: dict[str, str]) -> Theme:
        theme = self.get(theme_id)
        theme.logos.update(keys)
        return theme

    def _check_unique(self, name: str, short: str | None, itself: Theme | None) -> None:
        for other in self._themes.values():
            if other is itself:
                continue
            if other.theme_name == name:
                raise ConflictError("theme_name already exists in application")
            if short is not None and other.short_company_url == short:
                raise ConflictError("short_company_url already exists")
        if short is not None and short in self._taken_elsewhere():
            raise ConflictError("short_company_url already exists")

    # -- rooms that use a theme -----------------------------------------------------------

    def attach(self, room: Room) -> None:
        """Note that `room` uses its `theme_id` (called as rooms are created or updated)."""
        theme_id = room.settings.theme_id
        if theme_id is not None and theme_id in self._rooms:
            self._rooms[theme_id].insert(room)

    def detach(self, room: Room, theme_id: str | None) -> None:
        if theme_id is not None and theme_id in self._rooms:
            self._rooms[theme_id].remove(room)

    def rooms_page(
        self, theme_id: str, start_id: int | None, end_id: int | None, page_size: int
    ) -> Page:
        if theme_id.lower() not in self._themes:
            raise NotFoundError(f"Failed to get rooms because theme id {theme_id} not found")
        return self._rooms[theme_id.lower()].page(start_id, end_id, page_size)

    # -- the application ------------------------------------------------------------------

    def set_default(self, theme_id: str) -> Application:
        if theme_id.lower() not in self._themes:
            raise BadRequestError(
                f"Failed to update application because theme id {theme_id} not found"
            )
        self.application.default_theme_id = theme_id.lower()
        return self.application
