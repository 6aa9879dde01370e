/**
 * The one way the workbench talks to the service: same-origin `/api/v1` calls with the session
 * cookie, the CSRF token on every write, a lost session sent to sign-in (and back), and every
 * refusal turned into an `ApiError` carrying the problem+json body so screens can show it in place.
 */

export type Problem = {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: Record<string, string[]> | DeployError[];
  problems?: DeployError[]; // a refused deployment: one entry per problem
};
export type DeployError = { file?: string; element_id?: string; line?: number; message: string };

export class ApiError extends Error {
  problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
  get status() {
    return this.problem.status;
  }
}

export type Me = { username: string; display_name?: string; groups: string[]; csrf_token: string };

let csrfToken = "";
export function setCsrf(token: string) {
  csrfToken = token;
}

/** Send the person to sign-in, to come back to where they are now. */
export function toSignIn() {
  const here = window.location.pathname + window.location.search;
  window.location.assign(`/login?next=${encodeURIComponent(here)}`);
}

export async function api<T = unknown>(path: string, init: RequestInit & { json?: unknown; raw?: boolean } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (!init.raw) headers.set("Accept", "application/json");
  const method = (init.method || "GET").toUpperCase();
  if (method !== "GET") headers.set("X-CSRF-Token", csrfToken);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(init.json);
  }
  let response: Response;
  try {
    const { json: _json, raw: _raw, ...rest } = init;
    void _json;
    void _raw;
    response = await fetch(`/api/v1${path}`, { ...rest, method, headers, body, credentials: "same-origin" });
  } catch {
    throw new ApiError({ status: 0, title: "网络错误 Network error", detail: "无法连接服务 Cannot reach the service" });
  }
  if (response.status === 401) {
    toSignIn();
    throw new ApiError({ status: 401, title: "请先登录 Please sign in" });
  }
  const text = await response.text();
  if (response.ok && init.raw) return text as T;
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const problem = (parsed && typeof parsed === "object" ? parsed : {}) as Problem;
    throw new ApiError({ ...problem, status: response.status });
  }
  return parsed as T;
}

const STATUS_TEXT: Record<number, string> = {
  400: "请求有误 Bad request",
  403: "无权操作 Not allowed",
  404: "未找到 Not found",
  409: "冲突 Conflict",
  413: "文件过大 Too large",
  415: "不支持的文件类型 Unsupported file type",
  422: "输入有误 Invalid input",
  503: "服务暂不可用 Service unavailable",
};

/** A plain-language (Chinese first) title for a status. */
export function explain(status: number): string {
  return STATUS_TEXT[status] || `错误 Error ${status}`;
}

/** What to tell the person: the status in Chinese, then the service's own detail. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    const p = error.problem;
    // A route this server does not have yet (Werkzeug's own 404 text), as opposed to a missing record.
    if (p.status === 405 || (p.status === 404 && /requested URL was not found/.test(p.detail || "")))
      return "该功能暂不可用 Not available on this server yet";
    if (p.status === 0) return [p.title, p.detail].filter(Boolean).join("：");
    return [STATUS_TEXT[p.status] || p.title || explain(p.status), p.detail].filter(Boolean).join("：");
  }
  return error instanceof Error ? error.message : String(error);
}

export type Page<T> = { items: T[]; page: number; per_page: number; total: number };

export type Task = {
  id: string;
  case_id: string;
  name: string;
  element_id: string;
  lane?: string;
  candidate_group?: string;
  assignee?: string | null;
  status: string;
  created_at?: string;
  due_at?: string | null;
  is_approval?: boolean;
  form?: { schema: Record<string, unknown>; ui_schema: Record<string, unknown> };
  data?: Record<string, unknown>;
};

export type CaseData = {
  customer?: { id?: string; name?: string; phone?: string; tier?: string };
  product?: { model?: string; serial?: string; purchase_date?: string };
  problem?: { category?: string; issue_code?: string; description?: string };
  urgent_kinds?: string[];
  [key: string]: unknown;
};

export type Case = {
  id: string;
  business_key: string;
  process: string;
  version?: number;
  status: string;
  priority?: string;
  created_at?: string;
  data?: CaseData;
  tasks?: Task[];
  timers?: { name: string; due_at: string }[];
  escalations?: Record<string, unknown>[];
  links?: { case_id: string; business_key: string; kind: string }[];
  error?: unknown;
  customer_id?: string;
  issue_code?: string;
  // summary fields of the search (?q=) — may be missing on older servers
  customer_name?: string;
  current_step?: string | { task_id?: string; name?: string; due_at?: string | null; assignee?: string | null } | null;
  due_at?: string;
  problem?: string;
};

/** A text resource (BPMN/DMN XML, a form file) as the server has it. */
export function apiText(path: string): Promise<string> {
  return api<string>(path, { raw: true });
}
