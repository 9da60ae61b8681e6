// Prices and money are decimal strings in dollars on the wire; they are shown as sent and
// computed on only for estimates (in integer cents of a cent, never floats of dollars).

const SCALE = 10_000n;

/** "150.25" -> 1502500n (units of 1/10,000 $); null for anything else. */
export function units(text: string | null | undefined): bigint | null {
  if (text === null || text === undefined) return null;
  const match = /^(-?)(\d+)(?:\.(\d{1,4})\d*)?$/.exec(text.trim());
  if (!match) return null;
  const whole = BigInt(match[2]) * SCALE + BigInt((match[3] ?? "").padEnd(4, "0"));
  return match[1] ? -whole : whole;
}

/** 1502500n -> "150.25" (two decimals at least, four at most). */
export function dollars(value: bigint): string {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const whole = magnitude / SCALE;
  let fraction = (magnitude % SCALE).toString().padStart(4, "0").replace(/0{1,2}$/, "");
  if (fraction.length < 2) fraction = fraction.padEnd(2, "0");
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}.${fraction}`;
}

/** A money string as sent, grouped for reading: "12345.5" -> "12,345.50". */
export function money(text: string | null | undefined): string {
  const value = units(text);
  return value === null ? "—" : dollars(value);
}

/** A money string in dollars with its sign first: "-751.45" -> "-$751.45". */
export function usd(text: string | null | undefined): string {
  const value = units(text);
  if (value === null) return "—";
  return value < 0n ? `-$${dollars(-value)}` : `$${dollars(value)}`;
}

export function price(text: string | null | undefined): string {
  return text === null || text === undefined ? "—" : text;
}

export function qty(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : value.toLocaleString("en-US");
}

/** Whole shares and nano-shares (1e-9 share) beyond them: (2, 250000000) -> "2.25". */
export function shares(whole: number | null | undefined, nano?: number | null): string {
  if (whole === null || whole === undefined) return "—";
  if (!nano) return qty(whole);
  return `${qty(whole)}.${String(nano).padStart(9, "0").replace(/0+$/, "")}`;
}

/** ns since the epoch -> local time of day. */
export function time(ns: number | null | undefined): string {
  if (!ns) return "—";
  return new Date(Number(ns) / 1e6).toLocaleTimeString("en-US", { hour12: false });
}

export function dateTime(ns: number | null | undefined): string {
  if (!ns) return "—";
  const at = new Date(Number(ns) / 1e6);
  return `${at.toLocaleDateString("en-CA")} ${at.toLocaleTimeString("en-US", { hour12: false })}`;
}

/** A signed amount's class: gains green, losses red. */
export function sign(text: string | null | undefined): string {
  const value = units(text);
  if (value === null || value === 0n) return "flat";
  return value > 0n ? "up" : "down";
}
