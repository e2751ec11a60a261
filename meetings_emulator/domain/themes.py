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
from typing import Any

from meetings_emulator.domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import DEFAULT_TENANT, Page, Room
from meetings_emulator.domain.pagination import SerialIndex
from meetings_emulator.domain.plain import plain

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
    tenant: str = DEFAULT_TENANT


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


Identify = Callable[[str], Application]


class Themes:
    """Every tenant's themes and application; each theme belongs to one tenant.

    Names are unique within a tenant (its application); short company URLs across all."""

    def __init__(
        self, ids: Ids, identify: Identify, *, max_themes: int = DEFAULT_MAX_THEMES
    ) -> None:
        self._ids = ids
        self._identify = identify  # a tenant's application and account, when first met
        self._applications: dict[str, Application] = {}
        self.max_themes = max_themes
        self._themes: dict[str, Theme] = {}
        self._rooms: dict[str, SerialIndex] = {}  # theme id -> rooms that use it

    def application(self, tenant: str = DEFAULT_TENANT) -> Application:
        found = self._applications.get(tenant)
        if found is None:
            found = self._applications[tenant] = self._identify(tenant)
        return found

    # -- themes -------------------------------------------------------------------------

    def has(self, theme_id: str, tenant: str | None = None) -> bool:
        theme = self._themes.get(theme_id.lower())
        return theme is not None and (tenant is None or theme.tenant == tenant)

    def all(self, tenant: str | None = None) -> list[Theme]:
        return [t for t in self._themes.values() if tenant is None or t.tenant == tenant]

    def get(self, theme_id: str, tenant: str | None = None) -> Theme:
        if not self.has(theme_id, tenant):
            raise NotFoundError(f"could not find theme {theme_id}")
        return self._themes[theme_id.lower()]

    def short_url(self, theme_id: str | None) -> str | None:
        theme = self._themes.get(theme_id) if theme_id is not None else None
        return theme.short_company_url if theme is not None else None

    def create(self, settings: ThemeSettings, tenant: str = DEFAULT_TENANT) -> Theme:
        if len(self.all(tenant)) >= self.max_themes:
            raise ForbiddenError(f"Maximum number of themes for owner ({self.max_themes}) exceeded")
        name = settings.theme_name or self._ids.uuid()
        self._check_unique(name, settings.short_company_url, None, tenant)
        assert settings.main_color is not None
        assert settings.brand_text is not None
        application = self.application(tenant)
        theme = Theme(
            theme_id=self._ids.uuid(),
            theme_name=name,
            account_id=application.account_id,
            application_id=application.application_id,
            main_color=settings.main_color,
            brand_text=settings.brand_text,
            short_company_url=settings.short_company_url,
            tenant=tenant,
        )
        self._themes[theme.theme_id] = theme
        self._rooms[theme.theme_id] = SerialIndex()
        return theme

    def update(self, theme_id: str, changes: ThemeSettings, tenant: str | None = None) -> Theme:
        theme = self.get(theme_id, tenant)
        fields = changes.fields
        name = theme.theme_name
        if "theme_name" in fields:
            name = changes.theme_name or self._ids.uuid()
        short = (
            changes.short_company_url if "short_company_url" in fields else theme.short_company_url
        )
        self._check_unique(name, short, theme, theme.tenant)
        theme.theme_name = name
        theme.short_company_url = short
        if changes.main_color is not None:
            theme.main_color = changes.main_color
        if changes.brand_text is not None:
            theme.brand_text = changes.brand_text
        return theme

    def delete(
        self,
        theme_id: str,
        *,
        force: bool,
        detach: Callable[[Room], None],
        tenant: str | None = None,
    ) -> None:
        theme = self.get(theme_id, tenant)
        application = self.application(theme.tenant)
        rooms = self._rooms[theme.theme_id].rooms()
        in_use = [room for room in rooms if room.is_available]
        is_default = application.default_theme_id == theme.theme_id
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
            application.default_theme_id = None
        del self._themes[theme.theme_id]
        del self._rooms[theme.theme_id]

    def set_logos(self, theme_id: str, keys: dict[str, str]) -> Theme:
        theme = self.get(theme_id)  # the caller found it in its tenant already
        theme.logos.update(keys)
        return theme

    def _check_unique(
        self, name: str, short: str | None, itself: Theme | None, tenant: str
    ) -> None:
        for other in self._themes.values():
            if other is itself:
                continue
            if other.tenant == tenant and other.theme_name == name:
                raise ConflictError("theme_name already exists in application")
            if short is not None and other.short_company_url == short:  # across tenants
                raise ConflictError("short_company_url already exists")

    # -- saving and restoring -------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "themes": [plain(theme) for theme in self._themes.values()],
            "applications": {tenant: plain(app) for tenant, app in self._applications.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `export` gave, checked by `snapshot_check` (before the rooms,
        which attach to their themes)."""
        for data in state["themes"]:
            theme = Theme(**{**data, "logos": dict(data.get("logos", {}))})
            self._themes[theme.theme_id] = theme
            self._rooms[theme.theme_id] = SerialIndex()
        for tenant, data in state.get("applications", {}).items():
            self._applications[tenant] = Application(**data)

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
        self,
        theme_id: str,
        start_id: int | None,
        end_id: int | None,
        page_size: int,
        tenant: str | None = None,
    ) -> Page:
        if not self.has(theme_id, tenant):
            raise NotFoundError(f"Failed to get rooms because theme id {theme_id} not found")
        return self._rooms[theme_id.lower()].page(start_id, end_id, page_size)

    # -- the application ------------------------------------------------------------------

    def set_default(self, theme_id: str, tenant: str = DEFAULT_TENANT) -> Application:
        if not self.has(theme_id, tenant):
            raise BadRequestError(
                f"Failed to update application because theme id {theme_id} not found"
            )
        application = self.application(tenant)
        application.default_theme_id = theme_id.lower()
        return application
