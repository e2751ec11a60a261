// The dashboard's tenant selector: which tenant the page shows, kept in the page's own
// address (`?tenant=NAME`, none for the default), the list of tenants to pick from, kept
// fresh, and the address of every control-plane call, which names the tenant shown.

import { call, el } from "./dom.js";

export const DEFAULT_TENANT = "default";
const TENANTS_PATH = "/_emulator/tenants";
const REFRESH_MS = 2000;

// `path` (which may hold a query of its own) for `tenant`: `?tenant=` added, never pasted.
export function tenantPath(path, tenant) {
  const url = new URL(path, window.location.origin);
  if (tenant === DEFAULT_TENANT) url.searchParams.delete("tenant");
  else url.searchParams.set("tenant", tenant);
  return url.pathname + url.search + url.hash;
}

// The tenant a page address names.
export function tenantOfAddress(href) {
  return new URL(href).searchParams.get("tenant") || DEFAULT_TENANT;
}

// The page's address for `tenant`, keeping the rest of its query (a control token, say).
function addressFor(tenant) {
  const url = new URL(window.location.href);
  if (tenant === DEFAULT_TENANT) url.searchParams.delete("tenant");
  else url.searchParams.set("tenant", tenant);
  return url.href;
}

// A Basic Authorization header for a tenant's credentials.
export function basicFor(tenant) {
  return `Basic ${btoa(`${tenant.api_key}:${tenant.api_secret}`)}`;
}

// The selector: `onPick(name)` when the user picks a tenant or walks back through the
// history to another; `onGone(name)` when the tenant shown is no longer listed (dropped).
export class TenantPicker {
  constructor(select, initial, { onPick, onGone }) {
    this.select = select;
    this.current = initial;
    this.tenants = new Map(); // name -> {name, api_key, api_secret, application_id, now, frozen}
    this.listed = null; // the names last shown, to rebuild the options only when they change
    this.onPick = onPick;
    this.onGone = onGone;
    select.addEventListener("change", () => this.pick(select.value));
    // Fresh when the user goes to choose, and every few seconds while the page is seen.
    select.addEventListener("focus", () => this.refresh());
    select.addEventListener("pointerdown", () => this.refresh());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.refresh();
    });
    window.addEventListener("popstate", () => {
      const name = tenantOfAddress(window.location.href);
      if (name !== this.current) this.show(name, null);
    });
    setInterval(() => {
      if (!document.hidden) this.refresh();
    }, REFRESH_MS);
  }

  pick(name) {
    if (name !== this.current) this.show(name, "push");
  }

  // Show `name`: the address follows (`how`: "push", "replace", or null when the address
  // already says so), then the page.
  show(name, how) {
    this.current = name;
    if (how === "push") window.history.pushState(null, "", addressFor(name));
    else if (how === "replace") window.history.replaceState(null, "", addressFor(name));
    this.render();
    this.onPick(name);
  }

  info(name = this.current) {
    return this.tenants.get(name) ?? null;
  }

  async refresh() {
    const asked = this.current;
    let listed;
    try {
      listed = await call("GET", TENANTS_PATH);
    } catch {
      return; // the emulator is away: the stream's badge says so
    }
    this.tenants = new Map(listed.tenants.map((tenant) => [tenant.name, tenant]));
    this.render();
    if (this.current === asked && asked !== DEFAULT_TENANT && !this.tenants.has(asked)) {
      this.show(DEFAULT_TENANT, "replace");
      this.onGone(asked);
    }
  }

  render() {
    const names = [DEFAULT_TENANT, ...this.tenants.keys()];
    if (!names.includes(this.current)) names.push(this.current); // until the list comes
    const key = names.join("\n");
    if (key !== this.listed) {
      this.listed = key;
      this.select.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
    }
    this.select.value = this.current;
  }
}
