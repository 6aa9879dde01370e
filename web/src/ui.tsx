/** Small shared pieces: loading data with a visible error, Chinese labels, times and countdowns. */
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { messageOf } from "./api";

/** Load something once (and again on `reload`); an error becomes a message, never a blank page. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const key = JSON.stringify(deps);
  useEffect(() => {
    let alive = true;
    load().then(
      (data) => alive && setState({ data, loading: false }),
      (e) => alive && setState({ error: messageOf(e), loading: false }),
    );
    return () => {
      alive = false;
    };
    // `load` is a fresh closure each render; `deps` (as `key`) says when it means something new.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

export function Status({ loading, error }: { loading?: boolean; error?: string }) {
  if (error) return <p className="error" role="alert">{error}</p>;
  if (loading) return <p className="muted">加载中… Loading…</p>;
  return null;
}

export function NotFound() {
  return (
    <section>
      <h1>页面不存在 Page not found</h1>
      <Link to="/">回到待办 Back to the inbox</Link>
    </section>
  );
}

export const PRIORITY: Record<string, string> = { urgent: "紧急 Urgent", ordinary: "普通 Ordinary" };
export const STATUS: Record<string, string> = {
  running: "处理中 Running",
  completed: "已完成 Completed",
  cancelled: "已取消 Cancelled",
  error: "出错 Error",
  open: "待办 Open",
};
export const URGENT_KIND: Record<string, string> = {
  major: "重大 Major",
  over_level: "越级 Over-level",
  batch: "批量 Batch",
  repeat: "重复 Repeat",
  upgraded: "升级 Upgraded",
  cross_region: "跨区域 Cross-region",
  important_customer: "重要客户 Important customer",
  sensitive_customer: "敏感客户 Sensitive customer",
  sudden_incident: "突发事件 Sudden incident",
};
export const REMEDY: Record<string, string> = {
  repair: "修理 Repair",
  exchange: "换货 Exchange",
  refund: "退货 Refund",
  compensation: "赔偿 Compensation",
  free_repair: "免费修理 Free repair",
  paid_repair: "收费修理 Paid repair",
};

/** The summaries' current step: `{name, due_at, ...}` (or a plain name from older servers). */
export type Step = string | { name?: string; due_at?: string | null; assignee?: string | null } | null | undefined;
export function stepName(step: Step) {
  return typeof step === "string" ? step : step?.name || "";
}
export function stepDue(step: Step) {
  return typeof step === "object" && step ? step.due_at : undefined;
}

export function label(map: Record<string, string>, key?: string | null) {
  return key ? map[key] || key : "—";
}

export function PriorityTag({ priority }: { priority?: string }) {
  if (!priority) return null;
  return <span className={`tag ${priority}`}>{label(PRIORITY, priority)}</span>;
}

/** A time as the service gave it: its own timezone's wall clock (not the browser's). */
export function time(iso?: string | null) {
  if (!iso) return "—";
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]}` : iso;
}

/** "3 小时 12 分" left, or overdue (red) by as much. */
export function Countdown({ due, now }: { due?: string | null; now: number }) {
  if (!due) return <span className="muted">—</span>;
  const ms = new Date(due).getTime() - now;
  const abs = Math.abs(ms);
  const days = Math.floor(abs / 86400000);
  const hours = Math.floor((abs % 86400000) / 3600000);
  const minutes = Math.floor((abs % 3600000) / 60000);
  const text = days ? `${days}天${hours}小时` : hours ? `${hours}小时${minutes}分` : `${minutes}分`;
  return ms < 0 ? (
    <span className="overdue" title={time(due)}>
      已超时 {text}
    </span>
  ) : (
    <span className="due" title={time(due)}>
      剩 {text}
    </span>
  );
}

export function useNow(everyMs = 30000) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function money(n?: unknown) {
  return typeof n === "number" ? `¥${n.toLocaleString("zh-CN")}` : "—";
}
