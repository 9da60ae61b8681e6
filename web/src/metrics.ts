// Figures the terminal keeps about itself, read by its browser tests and benchmarks from
// `window.tradingfloorMetrics`: when the page first rendered and first showed a live quote,
// and how the book ladder kept up with its updates.

export interface LadderMetrics {
  updates: number;
  renders: number;
  /** Updates replaced by a newer one before a frame drew them (conflated, never shown). */
  superseded: number;
  frames: number;
  /** Display frames missed while updates were arriving (a late frame counts each vsync it missed). */
  dropped: number;
  renderMsMax: number;
  renderMsTotal: number;
}

export interface TerminalMetrics {
  navigationStartMs: number;
  firstRenderMs: number | null;
  firstQuoteMs: number | null;
  ladder: LadderMetrics;
  streamGaps: number;
  /** Frames of 50 ms or more, and their total duration. */
  longFrames: number;
  longFramesMs: number;
}

export const metrics: TerminalMetrics = {
  navigationStartMs: 0,
  firstRenderMs: null,
  firstQuoteMs: null,
  ladder: { updates: 0, renders: 0, superseded: 0, frames: 0, dropped: 0, renderMsMax: 0, renderMsTotal: 0 },
  streamGaps: 0,
  longFrames: 0,
  longFramesMs: 0,
};

// Frames the page itself held up for more than 50 ms (the browser's long-animation-frame
// entries), where the browser reports them.
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      metrics.longFrames += 1;
      metrics.longFramesMs += entry.duration;
    }
  }).observe({ type: "long-animation-frame", buffered: true });
} catch {
  // not supported: the counts stay 0
}

declare global {
  interface Window {
    tradingfloorMetrics: TerminalMetrics;
  }
}

window.tradingfloorMetrics = metrics;

export function markFirstRender(): void {
  if (metrics.firstRenderMs === null) metrics.firstRenderMs = performance.now();
}

export function markFirstQuote(): void {
  if (metrics.firstQuoteMs === null) {
    metrics.firstQuoteMs = performance.now();
    performance.mark("tradingfloor:first-quote");
  }
}
