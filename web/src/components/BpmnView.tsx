/** A BPMN diagram in bpmn-js's navigated viewer (pan and zoom), with the path taken and the current tasks marked. */
import { useEffect, useRef, useState } from "react";
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";

export default function BpmnView({ xml, completed = [], active = [] }: { xml: string; completed?: string[]; active?: string[] }) {
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!box.current) return;
    const viewer = new NavigatedViewer({ container: box.current });
    let alive = true;
    viewer
      .importXML(xml)
      .then(() => {
        if (!alive) return;
        const canvas = viewer.get("canvas") as {
          zoom: (how: string) => void;
          addMarker: (id: string, marker: string) => void;
        };
        const registry = viewer.get("elementRegistry") as { get: (id: string) => unknown };
        canvas.zoom("fit-viewport");
        for (const id of completed) if (registry.get(id)) canvas.addMarker(id, "done");
        for (const id of active) if (registry.get(id)) canvas.addMarker(id, "active");
      })
      .catch((e: Error) => alive && setError(`流程图无法显示 The diagram cannot be shown: ${e.message}`));
    return () => {
      alive = false;
      viewer.destroy();
    };
  }, [xml, completed, active]);
  return (
    <>
      {error && <p className="error">{error}</p>}
      <div className="diagram" ref={box} data-testid="bpmn" />
    </>
  );
}
