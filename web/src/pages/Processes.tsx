/**
 * Process owners: the deployed processes and their versions, a version's diagram and decision
 * tables, a deployment upload that lists every refused element (file, element, line), and a
 * decision tester.
 */
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { ApiError, api, apiText, messageOf, type DeployError, type Page } from "../api";
import BpmnView from "../components/BpmnView";
import DmnView from "../components/DmnView";
import { Status, time, useLoad } from "../ui";

type ProcessRow = { key: string; name?: string; version: number; deployed_at?: string; deployed_by?: string };
type Versions = { key: string; name?: string; versions: { version: number; sha256?: string; deployed_at?: string; deployed_by?: string }[] };

export function Processes() {
  const list = useLoad(() => api<Page<ProcessRow>>("/processes?per_page=200"), []);
  return (
    <section>
      <h1>流程与决策 Processes and decisions</h1>
      <Status loading={list.loading} error={list.error} />
      <ul className="rows">
        {list.data?.items.map((p) => (
          <li key={p.key}>
            <div className="row-head">
              <Link to={`/processes/${p.key}/${p.version}`} className="key">
                {p.name || p.key}
              </Link>
              <span className="muted">
                {p.key} · v{p.version}
              </span>
            </div>
            <div className="row-foot muted">
              {time(p.deployed_at)} {p.deployed_by}
            </div>
          </li>
        ))}
      </ul>
      <Deploy onDone={list.reload} />
      <DecisionTester />
    </section>
  );
}

function Deploy({ onDone }: { onDone: () => void }) {
  const [result, setResult] = useState<{ ok?: string; problems?: DeployError[]; error?: string }>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const input = e.currentTarget.elements.namedItem("file") as HTMLInputElement;
    if (!input.files?.length) return setResult({ error: "请选择 BPMN、DMN 或表单文件 Choose BPMN, DMN or form files" });
    const body = new FormData();
    for (const f of Array.from(input.files)) body.append("file", f, f.name);
    setBusy(true);
    setResult(undefined);
    try {
      const answer = await api<{ deployed: { key: string; version: number }[] }>("/deployments", { method: "POST", body });
      setResult({ ok: `已部署 Deployed: ${answer.deployed.map((d) => `${d.key} v${d.version}`).join(", ") || "无变化 unchanged"}` });
      onDone();
    } catch (err) {
      const problem = err instanceof ApiError ? err.problem : undefined;
      const problems = problem?.problems ?? (Array.isArray(problem?.errors) ? problem.errors : undefined);
      if (problems) setResult({ problems, error: messageOf(err) });
      else setResult({ error: messageOf(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card">
      <h2>部署新版本 Deploy</h2>
      <form onSubmit={submit} className="upload">
        <input type="file" name="file" multiple accept=".bpmn,.dmn,.json,.xml" aria-label="流程文件 Files" />
        <button type="submit" disabled={busy}>
          部署 Deploy
        </button>
      </form>
      {result?.ok && <p className="ok">{result.ok}</p>}
      {result?.error && (
        <p className="error" role="alert">
          {result.error}
        </p>
      )}
      {result?.problems && (
        <div className="scroll">
          <table className="problems" data-testid="deploy-errors">
            <thead>
              <tr>
                <th>文件 File</th>
                <th>元素 Element</th>
                <th>行 Line</th>
                <th>问题 Problem</th>
              </tr>
            </thead>
            <tbody>
              {result.problems.map((p, i) => (
                <tr key={i}>
                  <td>{p.file || "—"}</td>
                  <td>
                    <code>{p.element_id || "—"}</code>
                  </td>
                  <td>{p.line ?? "—"}</td>
                  <td>{p.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function DecisionTester() {
  const [id, setId] = useState("complaint_urgency");
  const [inputs, setInputs] = useState('{\n  "channel": "media"\n}');
  const [inputError, setInputError] = useState("");
  const [result, setResult] = useState<{ outputs?: unknown[]; error?: string }>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(inputs);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error();
      setInputError("");
    } catch {
      setInputError("输入须为 JSON 对象 Inputs must be a JSON object");
      return;
    }
    try {
      setResult(await api<{ outputs: unknown[] }>(`/decisions/${encodeURIComponent(id.trim())}/evaluate`, { method: "POST", json: { inputs: parsed } }));
    } catch (err) {
      setResult({ error: messageOf(err) });
    }
  };
  return (
    <div className="card">
      <h2>决策测试 Decision tester</h2>
      <form onSubmit={submit}>
        <label>
          决策编号 Decision id
          <input value={id} onChange={(e) => setId(e.target.value)} />
        </label>
        <label>
          输入 Inputs (JSON)
          <textarea rows={5} value={inputs} onChange={(e) => setInputs(e.target.value)} />
          {inputError && <span className="field-error">{inputError}</span>}
        </label>
        <button type="submit">计算 Evaluate</button>
      </form>
      {result?.error && <p className="error">{result.error}</p>}
      {result?.outputs && (
        <>
          <p>命中 {result.outputs.length} 行 {result.outputs.length} row(s) hit</p>
          <pre className="scroll" data-testid="outputs">
            {JSON.stringify(result.outputs, null, 2)}
          </pre>
        </>
      )}
    </div>
  );
}

export function ProcessVersion() {
  const { key = "", version = "" } = useParams();
  const base = `/processes/${encodeURIComponent(key)}/versions/${version}`;
  const versions = useLoad(() => api<Versions>(`/processes/${encodeURIComponent(key)}`), [key]);
  const bpmn = useLoad(() => apiText(`${base}/bpmn`), [base]);
  type FileRow = string | { name: string; kind?: string; size?: number };
  const files = useLoad(() => api<{ files?: FileRow[] } | FileRow[]>(`${base}/files`), [base]);
  const [dmn, setDmn] = useState<{ name: string; xml?: string; error?: string }>();
  const names = (Array.isArray(files.data) ? files.data : files.data?.files || []).map((f) => (typeof f === "string" ? f : f.name));
  const open = async (name: string) => {
    setDmn({ name });
    try {
      setDmn({ name, xml: await apiText(`${base}/files/${encodeURIComponent(name)}`) });
    } catch (e) {
      setDmn({ name, error: messageOf(e) });
    }
  };
  return (
    <section>
      <h1>
        {versions.data?.name || key} v{version}
      </h1>
      <Status error={versions.error} />
      <p className="versions">
        版本 Versions:{" "}
        {versions.data?.versions.map((v) => (
          <Link key={v.version} to={`/processes/${key}/${v.version}`} className={String(v.version) === version ? "current" : ""} title={`${time(v.deployed_at)} ${v.deployed_by || ""}`}>
            v{v.version}
          </Link>
        ))}
      </p>
      <Status loading={bpmn.loading} error={bpmn.error} />
      {bpmn.data && <BpmnView xml={bpmn.data} />}
      <h2>文件 Files</h2>
      <Status loading={files.loading} error={files.error} />
      <ul className="plain">
        {names.map((n) => (
          <li key={n}>
            {n.endsWith(".dmn") ? (
              <button className="link" onClick={() => open(n)}>
                {n}
              </button>
            ) : (
              n
            )}
          </li>
        ))}
      </ul>
      {dmn && (
        <div className="card">
          <h2>{dmn.name}</h2>
          <Status loading={!dmn.xml && !dmn.error} error={dmn.error} />
          {dmn.xml && <DmnView xml={dmn.xml} />}
        </div>
      )}
    </section>
  );
}
