// dmn-js ships JavaScript without type declarations; the workbench only needs its viewer.
declare module "dmn-js/lib/Viewer" {
  export default class DmnViewer {
    constructor(options: { container: HTMLElement });
    importXML(xml: string): Promise<{ warnings: unknown[] }>;
    getViews(): { id: string; name?: string; type: string }[];
    getActiveView(): { id: string; type: string } | undefined;
    open(view: { id: string; type: string }): Promise<unknown>;
    destroy(): void;
  }
}
declare module "ajv-i18n/localize/zh" {
  const localize: (errors?: unknown[] | null) => void;
  export default localize;
}
