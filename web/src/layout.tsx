/** Who is signed in, and the frame every screen sits in: a menu of what their groups may do. */
import { Suspense, createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { NavLink, Outlet } from "react-router-dom";
import { api, messageOf, setCsrf, type Me } from "./api";

const MeContext = createContext<Me | null>(null);

export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error("useMe outside MeProvider");
  return me;
}

export function MeProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<Me>("/me")
      .then((m) => {
        setCsrf(m.csrf_token);
        setMe(m);
      })
      .catch((e) => setError(messageOf(e)));
  }, []);
  if (error) return <p className="error page">{error}</p>;
  if (!me) return <p className="page muted">加载中… Loading…</p>;
  return <MeContext.Provider value={me}>{children}</MeContext.Provider>;
}

const MENU: { to: string; label: string; groups?: string[] }[] = [
  { to: "/", label: "待办 Inbox" },
  { to: "/search", label: "查询 Search" },
  { to: "/new", label: "新投诉 New complaint", groups: ["agents", "integrations", "admins"] },
  { to: "/approvals", label: "审批 Sign-off", groups: ["managers", "general_managers", "admins"] },
  { to: "/supervision", label: "督办 Supervision", groups: ["supervisors", "admins"] },
  { to: "/processes", label: "流程 Processes", groups: ["process_owners", "admins"] },
];

export function Layout() {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const menu = MENU.filter((m) => !m.groups || m.groups.some((g) => me.groups.includes(g)));
  return (
    <>
      <header className="top">
        <button className="menu-toggle" aria-label="菜单 Menu" onClick={() => setOpen(!open)}>
          ☰
        </button>
        <strong className="brand">投诉工作台</strong>
        <nav className={open ? "open" : ""} onClick={() => setOpen(false)}>
          {menu.map((m) => (
            <NavLink key={m.to} to={m.to} end={m.to === "/"}>
              {m.label}
            </NavLink>
          ))}
        </nav>
        <form method="post" action="/logout" className="who">
          <span title={me.groups.join(", ")}>{me.display_name || me.username}</span>
          <input type="hidden" name="csrf_token" value={me.csrf_token} />
          <button type="submit" className="link">
            退出 Sign out
          </button>
        </form>
      </header>
      <main className="page">
        <Suspense fallback={<p className="muted">加载中… Loading…</p>}>
          <Outlet />
        </Suspense>
      </main>
    </>
  );
}
