/** Decision tables of a DMN file, rendered read-only by dmn-js; one tab per table. */
import { useEffect, useRef, useState } from "react";
import DmnViewer from "dmn-js/lib/Viewer";
import "dmn-js/dist/assets/dmn-js-shared.css";
import "dmn-js/dist/assets/dmn-js-decision-table.css";
import "dmn-js/dist/assets/dmn-js-drd.css";
import "dmn-js/dist/assets/dmn-js-literal-expression.css";
import "dmn-js/dist/assets/dmn-font/css/dmn.css";

type View = { id: string; name?: string; type: string };

export default function DmnView({ xml }: { xml: string }) {
  const box = useRef<HTMLDivElement>(null);
  const viewer = useRef<DmnViewer | null>(null);
  const [views, setViews] = useState<View[]>([]);
  const [current, setCurrent] = useState("");
  const [error, setError] = useState("");
  useEffect(() => {
    if (!box.current) return;
    const v = new DmnViewer({ container: box.current });
    viewer.current = v;
    v.importXML(xml)
      .then(() => {
        const tables = v.getViews().filter((x) => x.type === "decisionTable");
        setViews(tables);
        if (tables[0]) {
          setCurrent(tables[0].id);
          return v.open(tables[0]);
        }
      })
      .catch((e: Error) => setError(`决策表无法显示 The decision table cannot be shown: ${e.message}`));
    return () => v.destroy();
  }, [xml]);
  const show = (view: View) => {
    setCurrent(view.id);
    viewer.current?.open(view);
  };
  return (
    <div>
      {error && <p className="error">{error}</p>}
      {views.length > 1 && (
        <div className="tabs">
          {views.map((v) => (
            <button key={v.id} className={v.id === current ? "" : "secondary"} onClick={() => show(v)}>
              {v.name || v.id}
            </button>
          ))}
        </div>
      )}
      <div className="dmn" ref={box} data-testid="dmn" />
    </div>
  );
}
