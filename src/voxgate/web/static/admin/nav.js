// The admin console's sections. A new page is one line here: its address and its label's key.
export const SECTIONS = [
  { href: "/admin/users", key: "admin.nav.users", section: "users" },
  { href: "/admin/keys", key: "admin.nav.keys", section: "keys" },
  { href: "/admin/calls", key: "admin.nav.calls", section: "calls" },
  { href: "/admin/audit", key: "admin.nav.audit", section: "audit" },
  { href: "/admin/dashboard", key: "admin.nav.dashboard" },
];

/** Fill `nav` with the sections, marking the current one. */
export function renderNav(nav, current, t) {
  nav.replaceChildren(
    Object.assign(document.createElement("a"), { href: "/", textContent: t("nav.console") }),
    ...SECTIONS.map(({ href, key, section }) => {
      const link = Object.assign(document.createElement("a"), { href, textContent: t(key) });
      if (section === current) link.setAttribute("aria-current", "page");
      return link;
    }),
  );
}
