// Draws the workflow graph of an admin page (templates/admin/workflows_app/graph.html).
// The page holds the graph's Mermaid text once, folded under "Mermaid text", and an empty
// .wf-graph-drawing whose data-mermaid-url says where mermaid.js is: by default the copy in
// this app's static files (vendor/mermaid/), so nothing comes from another server. The
// drawing gets the SVG. If the script cannot load or cannot draw, it says so instead and
// the text unfolds.
const drawing = document.querySelector(".wf-graph-drawing[data-mermaid-url]");

// Mermaid's single-file build defines window.mermaid; an ES module build (WORKFLOWS
// ["MERMAID_URL"] ending in .mjs) exports it as its default.
function loadMermaid(url) {
  if (new URL(url, document.baseURI).pathname.endsWith(".mjs")) {
    return import(url).then((module) => module.default);
  }
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = () =>
      window.mermaid ? resolve(window.mermaid) : reject(new Error("it defines no mermaid"));
    script.onerror = () => reject(new Error("it did not load"));
    document.head.append(script);
  });
}

if (drawing) {
  const url = drawing.dataset.mermaidUrl;
  const source = document.getElementById(drawing.dataset.source);
  loadMermaid(url)
    .then(async (mermaid) => {
      mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      // Drawn inside the drawing, so that the labels are measured in the page's styles.
      const { svg } = await mermaid.render("wf-graph-svg", source.textContent, drawing);
      drawing.innerHTML = svg; // sanitised by mermaid (securityLevel "strict")
      drawing.classList.add("wf-graph-drawn");
    })
    .catch((error) => {
      drawing.textContent =
        "The graph could not be drawn here (mermaid.js did not load, or could not draw it): " +
        "its Mermaid text follows.";
      drawing.classList.add("wf-graph-undrawn");
      source.closest("details").open = true;
      console.warn(`workflows_app: no graph drawn with mermaid.js from ${url}:`, error);
    });
}
