// The terminal is built into the Python package, which serves it at / (tradingfloor.web).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/tradingfloor/web/static",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run dev`: the terminal with live reload against a platform on :8000.
    proxy: {
      "/v1": { target: "http://127.0.0.1:8000", ws: true },
      "/v2": "http://127.0.0.1:8000",
    },
  },
});
