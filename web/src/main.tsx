/** Entry point: signs the person in (or sends them to sign-in), then shows the workbench's routes. */
import { StrictMode, lazy } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Route, Routes } from "react-router-dom";
import "./style.css";
import { Layout, MeProvider } from "./layout";
import Inbox from "./pages/Inbox";
import Search from "./pages/Search";
const NewCase = lazy(() => import("./pages/NewCase"));
const TaskPage = lazy(() => import("./pages/TaskPage"));
const CasePage = lazy(() => import("./pages/CasePage"));
const ApprovalQueue = lazy(() => import("./pages/Approvals").then((m) => ({ default: m.ApprovalQueue })));
const SignOff = lazy(() => import("./pages/Approvals").then((m) => ({ default: m.SignOff })));
const Supervision = lazy(() => import("./pages/Supervision"));
const Processes = lazy(() => import("./pages/Processes").then((m) => ({ default: m.Processes })));
const ProcessVersion = lazy(() => import("./pages/Processes").then((m) => ({ default: m.ProcessVersion })));
import { NotFound } from "./ui";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <MeProvider>
        <Routes>
          <Route element={<Layout />}>
            <Route index element={<Inbox />} />
            <Route path="search" element={<Search />} />
            <Route path="new" element={<NewCase />} />
            <Route path="tasks/:taskId" element={<TaskPage />} />
            <Route path="cases/:caseId" element={<CasePage />} />
            <Route path="approvals" element={<ApprovalQueue />} />
            <Route path="approvals/:taskId" element={<SignOff />} />
            <Route path="supervision" element={<Supervision />} />
            <Route path="processes" element={<Processes />} />
            <Route path="processes/:key/:version" element={<ProcessVersion />} />
            <Route path="*" element={<NotFound />} />
          </Route>
        </Routes>
      </MeProvider>
    </BrowserRouter>
  </StrictMode>,
);
