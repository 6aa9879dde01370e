/** The inbox: my tasks first, then the unclaimed tasks of my groups; urgent first, then by due time. */
import { Link } from "react-router-dom";
import { useEffect, useState } from "react";
import { api, messageOf, type Case, type Page, type Task } from "../api";
import { useMe } from "../layout";
import { Countdown, PriorityTag, Status, useNow } from "../ui";

export type Row = Task & { business_key?: string; customer_name?: string; problem?: string; priority?: string };

type Details = Pick<Row, "business_key" | "customer_name" | "problem" | "priority">;

function detailsOf(c: Case): Details {
  return {
    business_key: c.business_key,
    customer_name: c.data?.customer?.name,
    problem: c.data?.problem?.description || c.data?.problem?.category,
    priority: c.priority,
  };
}

// Started as soon as this module loads when the inbox is the page opened (in parallel with /me).
let early: Promise<Page<Row>> | null = window.location.pathname === "/" ? api<Page<Row>>("/tasks?status=open&per_page=200") : null;
early?.catch(() => undefined);

/**
 * The open tasks I may see (the service orders them urgent first, then by due time), shown at once;
 * each case's key, customer, problem and priority filled in as they arrive when the task list does
 * not carry them (one read per case).
 */
export function useInbox() {
  const [tasks, setTasks] = useState<{ rows?: Row[]; error?: string }>({});
  const [details, setDetails] = useState<Map<string, Details>>(new Map());
  useEffect(() => {
    let alive = true;
    const load = early || api<Page<Row>>("/tasks?status=open&per_page=200");
    early = null;
    load.then(
      (page) => {
        if (!alive) return;
        setTasks({ rows: page.items });
        const missing = [...new Set(page.items.filter((t) => t.business_key === undefined).map((t) => t.case_id))];
        for (const id of missing)
          api<Case>(`/cases/${id}`).then(
            (c) => alive && setDetails((d) => new Map(d).set(id, detailsOf(c))),
            () => undefined,
          );
      },
      (e) => alive && setTasks({ error: messageOf(e) }),
    );
    return () => {
      alive = false;
    };
  }, []);
  const rows = tasks.rows?.map((t) => ({ ...t, ...details.get(t.case_id) }));
  return { rows, error: tasks.error, loading: !tasks.rows && !tasks.error };
}

/** Mine first, then my groups' unclaimed tasks; within each, the service's order (urgent, then due time). */
export function sortInbox(rows: Row[], me: string): Row[] {
  return [...rows.filter((r) => r.assignee === me), ...rows.filter((r) => r.assignee !== me)];
}

export default function Inbox() {
  const me = useMe();
  const now = useNow();
  const { rows: all, error, loading } = useInbox();
  const rows = all ? sortInbox(all, me.username) : [];
  return (
    <section>
      <h1>我的待办 Inbox</h1>
      <Status loading={loading} error={error} />
      {all && rows.length === 0 && <p className="muted">没有待办任务 Nothing to do</p>}
      <ul className="rows" data-testid="inbox" data-complete={all ? all.every((r) => r.business_key !== undefined) : undefined}>
        {rows.map((t) => (
          <li key={t.id} className={t.assignee === me.username ? "mine" : "group"}>
            <div className="row-head">
              <Link to={`/cases/${t.case_id}`} className="key">
                {t.business_key || t.case_id.slice(0, 8)}
              </Link>
              <PriorityTag priority={t.priority} />
              <Countdown due={t.due_at} now={now} />
            </div>
            <div className="row-body">
              <span className="customer">{t.customer_name || "—"}</span>
              <span className="problem">{t.problem || ""}</span>
            </div>
            <div className="row-foot">
              <Link to={`/tasks/${t.id}`} className="step">
                {t.name}
              </Link>
              <span className="muted">{t.assignee === me.username ? "我的 Mine" : `待领取 ${t.candidate_group || ""}`}</span>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
