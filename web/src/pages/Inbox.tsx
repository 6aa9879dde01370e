/** The inbox: my tasks first, then the unclaimed tasks of my groups; urgent first, then by due time. */
import { Link } from "react-router-dom";
import { useCallback, useEffect, useRef, useState } from "react";
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

const PER_PAGE = 50;
const MINE = "/tasks?status=open&mine=true&per_page=200";
const groupPage = (page: number) => `/tasks?status=open&per_page=${PER_PAGE}&page=${page}`;

// Started as soon as this module loads when the inbox is the page opened (in parallel with /me).
let early: [Promise<Page<Row>>, Promise<Page<Row>>] | null =
  window.location.pathname === "/" ? [api<Page<Row>>(MINE), api<Page<Row>>(groupPage(1))] : null;
early?.forEach((p) => p.catch(() => undefined));

/**
 * My open tasks, then the open tasks of my groups nobody holds (50 at a time; the service orders
 * each list urgent first, then by due time), shown at once; each case's key, customer, problem and
 * priority are filled in as they arrive when the task list does not carry them (one read per case).
 */
export function useInbox(me: string) {
  const [state, setState] = useState<{ mine?: Row[]; group: Row[]; total: number; page: number; error?: string }>({
    group: [],
    total: 0,
    page: 0,
  });
  const [details, setDetails] = useState<Map<string, Details>>(new Map());
  const asked = useRef(new Set<string>());
  const alive = useRef(true);

  const fill = useCallback((rows: Row[]) => {
    for (const id of new Set(rows.filter((t) => t.business_key === undefined).map((t) => t.case_id))) {
      if (asked.current.has(id)) continue;
      asked.current.add(id);
      api<Case>(`/cases/${id}`).then(
        (c) => alive.current && setDetails((d) => new Map(d).set(id, detailsOf(c))),
        () => undefined,
      );
    }
  }, []);

  useEffect(() => {
    alive.current = true;
    const [mine, group] = early || [api<Page<Row>>(MINE), api<Page<Row>>(groupPage(1))];
    early = null;
    Promise.all([mine, group]).then(
      ([m, g]) => {
        if (!alive.current) return;
        setState({ mine: m.items, group: g.items, total: g.total, page: 1 });
        fill([...m.items, ...g.items]);
      },
      (e) => alive.current && setState((s) => ({ ...s, error: messageOf(e) })),
    );
    return () => {
      alive.current = false;
    };
  }, [fill]);

  const more = useCallback(() => {
    api<Page<Row>>(groupPage(state.page + 1)).then(
      (g) => {
        setState((s) => ({ ...s, group: [...s.group, ...g.items], total: g.total, page: s.page + 1 }));
        fill(g.items);
      },
      (e) => setState((s) => ({ ...s, error: messageOf(e) })),
    );
  }, [state.page, fill]);

  const withDetails = (t: Row) => ({ ...t, ...details.get(t.case_id) });
  const rows = state.mine && [...state.mine, ...state.group.filter((t) => t.assignee !== me)].map(withDetails);
  const hasMore = state.page * PER_PAGE < state.total;
  return { rows, error: state.error, loading: !state.mine && !state.error, more: hasMore ? more : undefined };
}

export default function Inbox() {
  const me = useMe();
  const now = useNow();
  const { rows: all, error, loading, more } = useInbox(me.username);
  const rows = all || [];
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
      {more && (
        <button className="secondary more" onClick={more}>
          更多 More
        </button>
      )}
    </section>
  );
}
