// A few helpers to build the DOM without a framework. Text is always set as text (never as
// HTML), so nothing a server or a user sends can inject markup.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** A table with a header row; `rows` are arrays of cells. */
export function table(
  headers: string[],
  rows: Child[][],
  attrs: Attrs = {},
  empty = "Nothing yet",
): HTMLTableElement {
  const body = h("tbody");
  if (rows.length === 0) {
    body.appendChild(h("tr", { class: "empty" }, h("td", { colspan: headers.length }, empty)));
  }
  for (const row of rows) {
    body.appendChild(h("tr", {}, ...row.map((cell) => h("td", {}, cell))));
  }
  return h("table", attrs, h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))), body);
}

export function button(label: string, onClick: () => void, attrs: Attrs = {}): HTMLButtonElement {
  return h("button", { type: "button", ...attrs, onclick: () => onClick() }, label);
}
