// The download menu of a chapter page (sphinx-book-theme) offers the executed notebook, .ipynb.
// This script makes it arrive as a file named CHAPTER.ipynb (the `download` attribute, same tab)
// and adds the chapter's jupytext source, CHAPTER.md, which the book pipeline copies next to it
// (_sources/notebooks/CHAPTER.md). Plain JavaScript, no library, nothing fetched.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("a.btn-download-source-button").forEach(function (link) {
    var href = link.getAttribute("href");
    if (!href || !/\.ipynb$/.test(href)) {
      return;  // narrative pages: their source is already markdown
    }
    var name = href.split("/").pop();
    link.setAttribute("download", name);
    link.removeAttribute("target");
    link.setAttribute("title", "Download the executed notebook (.ipynb)");
    var md = link.cloneNode(true);
    md.setAttribute("href", href.replace(/\.ipynb$/, ".md"));
    md.setAttribute("download", name.replace(/\.ipynb$/, ".md"));
    md.setAttribute("title", "Download the notebook's source (.md, jupytext MyST)");
    md.classList.remove("btn-download-source-button");
    md.classList.add("btn-download-md-button");
    var text = md.querySelector(".btn__text-container");
    if (text) {
      text.textContent = ".md";
    }
    var item = document.createElement("li");
    item.appendChild(md);
    var here = link.closest("li");
    if (here && here.parentNode) {
      here.parentNode.insertBefore(item, here.nextSibling);
    }
  });
});
