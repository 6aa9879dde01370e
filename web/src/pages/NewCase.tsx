/**
 * Taking a new complaint: the process's own start form (named on its start event in the BPMN, read
 * from the deployed files) rendered with rjsf; the answer shows the case's number and priority at once.
 */
import { useMemo, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { ApiError, api, apiText, messageOf, type Case } from "../api";
import SchemaForm from "../components/SchemaForm";
import { Status, time, useLoad } from "../ui";

type StartForm = { version: number; schema: Record<string, unknown>; uiSchema: Record<string, unknown> };

/** The start event's form file names, as spiff-arena's extension properties give them. */
export function startFormFiles(bpmn: string): { schema?: string; ui?: string } {
  const doc = new DOMParser().parseFromString(bpmn, "application/xml");
  const start = Array.from(doc.getElementsByTagNameNS("*", "startEvent")).find(
    (e) => e.parentElement?.localName === "process",
  );
  const prop = (name: string) =>
    Array.from(start?.getElementsByTagNameNS("*", "property") || [])
      .find((p) => p.getAttribute("name") === name)
      ?.getAttribute("value") || undefined;
  return { schema: prop("formJsonSchemaFilename"), ui: prop("formUiSchemaFilename") };
}

async function loadStartForm(process: string): Promise<StartForm> {
  const info = await api<{ versions: { version: number }[] }>(`/processes/${encodeURIComponent(process)}`);
  const version = info.versions[info.versions.length - 1].version;
  const base = `/processes/${encodeURIComponent(process)}/versions/${version}`;
  const files = startFormFiles(await apiText(`${base}/bpmn`));
  if (!files.schema) throw new Error("此流程没有开始表单 This process has no start form");
  const read = async (name: string) => {
    try {
      return JSON.parse(await apiText(`${base}/files/${encodeURIComponent(name)}`));
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405))
        throw new Error(`服务器尚未提供流程文件 The server does not serve process files yet (${name})`, { cause: e });
      throw e;
    }
  };
  return { version, schema: await read(files.schema), uiSchema: files.ui ? await read(files.ui) : {} };
}

export default function NewCase() {
  const [params] = useSearchParams();
  const process = params.get("process") || "complaint";
  const navigate = useNavigate();
  const form = useLoad(() => loadStartForm(process), [process]);
  const idempotencyKey = useMemo(() => crypto.randomUUID(), []);
  const [formData, setFormData] = useState<unknown>({});
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>();
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (data: unknown) => {
    setBusy(true);
    setMessage("");
    setServerErrors(undefined);
    try {
      const c = await api<Case>("/cases", {
        method: "POST",
        json: { process, data },
        headers: { "Idempotency-Key": idempotencyKey },
      });
      const urgent = c.priority === "urgent" ? "紧急 Urgent" : "普通 Ordinary";
      const ack = c.timers?.[0];
      navigate(`/cases/${c.id}`, {
        state: { flash: `已立案 ${c.business_key} · ${urgent}${ack ? ` · ${ack.name} ${time(ack.due_at)}` : ""}` },
      });
    } catch (e) {
      if (e instanceof ApiError && e.problem.errors && !Array.isArray(e.problem.errors)) setServerErrors(e.problem.errors);
      setMessage(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>受理新投诉 New complaint</h1>
      <Status loading={form.loading} error={form.error} />
      {form.data && (
        <SchemaForm
          schema={form.data.schema}
          uiSchema={form.data.uiSchema}
          formData={formData}
          onChange={setFormData}
          onSubmit={submit}
          serverErrors={serverErrors}
          disabled={busy}
        >
          {message && (
            <p className="error" role="alert">
              {message}
            </p>
          )}
          <button type="submit" disabled={busy}>
            立案 Start the case
          </button>
        </SchemaForm>
      )}
    </section>
  );
}
