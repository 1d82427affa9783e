// Draws the workflow graphs of an admin page: each <pre class="mermaid"> holds Mermaid text
// and, in data-mermaid-url, where to load mermaid.js from (WORKFLOWS["MERMAID_URL"], an ES
// module). Mermaid replaces the text with a drawing; if the script cannot load, or cannot
// draw, the text stays on the page (and under "Mermaid text") for people to read.
const graphs = Array.from(document.querySelectorAll("pre.mermaid[data-mermaid-url]"));

if (graphs.length > 0) {
  const url = graphs[0].dataset.mermaidUrl;
  import(url)
    .then(async ({ default: mermaid }) => {
      mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      await mermaid.run({ nodes: graphs });
      graphs.forEach((graph) => graph.classList.add("wf-graph-drawn"));
    })
    .catch((error) => {
      graphs.forEach((graph) => graph.classList.add("wf-graph-undrawn"));
      console.warn(`workflows_app: no graph drawn with mermaid.js from ${url}:`, error);
    });
}
