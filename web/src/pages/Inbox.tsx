/** The inbox: my tasks first, then the unclaimed tasks of my groups; urgent first, then by due time. */
import { Link } from "react-router-dom";
import { api, type Case, type Page, type Task } from "../api";
import { useMe } from "../layout";
import { Countdown, PriorityTag, Status, useLoad, useNow } from "../ui";

type Row = Task & { business_key?: string; customer_name?: string; problem?: string; priority?: string };

/** Task rows with their case's key, customer, problem and priority (fetched once per case when the list lacks them). */
export async function loadInbox(): Promise<Row[]> {
  const page = await api<Page<Row>>("/tasks?status=open&per_page=200");
  const missing = [...new Set(page.items.filter((t) => t.business_key === undefined).map((t) => t.case_id))];
  const cases = new Map<string, Case>();
  await Promise.all(
    missing.map((id) =>
      api<Case>(`/cases/${id}`).then(
        (c) => cases.set(id, c),
        () => undefined,
      ),
    ),
  );
  return page.items.map((t) => {
    const c = cases.get(t.case_id);
    if (!c) return t;
    return {
      ...t,
      business_key: c.business_key,
      customer_name: c.data?.customer?.name,
      problem: c.data?.problem?.description || c.data?.problem?.category,
      priority: c.priority,
    };
  });
}

export function sortInbox(rows: Row[], me: string): Row[] {
  const key = (r: Row) => [
    r.assignee === me ? 0 : 1,
    r.priority === "urgent" ? 0 : 1,
    r.due_at ? new Date(r.due_at).getTime() : Number.MAX_SAFE_INTEGER,
  ];
  return [...rows].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  });
}

export default function Inbox() {
  const me = useMe();
  const now = useNow();
  const { data, error, loading } = useLoad(loadInbox, []);
  const rows = data ? sortInbox(data, me.username) : [];
  return (
    <section>
      <h1>我的待办 Inbox</h1>
      <Status loading={loading} error={error} />
      {data && rows.length === 0 && <p className="muted">没有待办任务 Nothing to do</p>}
      <ul className="rows" data-testid="inbox">
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
