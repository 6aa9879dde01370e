// Vite builds the workbench into web/dist, which Flask serves at "/" (no CDN: every asset is bundled).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 4000 },
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/login": "http://127.0.0.1:8080", "/logout": "http://127.0.0.1:8080" } },
});
