// The page as `smartcheck init --screens` reads it (src/browser/learn.rs): every visible
// input, select, button and link with the most stable selector that finds it alone, the words a
// person reads on or beside it, and what identifies it (id, name, autocomplete, label, role).
// Run by WebDriver's execute_script: the body of a function whose value is returned.
const unique = s => { try { return document.querySelectorAll(s).length === 1; } catch (_) { return false; } };
// An attribute value in a CSS string: only the quote and the backslash are escaped, so
// that the selector written reads as the page's own value.
const q = v => '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\a ') + '"';
const selector = e => {
    const tag = e.tagName.toLowerCase();
    if (e.id && unique('#' + CSS.escape(e.id))) return '#' + CSS.escape(e.id);
    const name = e.getAttribute('name');
    if (name) {
        const s = tag + '[name=' + q(name) + ']';
        if (unique(s)) return s;
        const v = e.getAttribute('value');
        if (v !== null && unique(s + '[value=' + q(v) + ']')) return s + '[value=' + q(v) + ']';
    }
    for (const a of ['data-testid', 'data-test', 'aria-label', 'autocomplete', 'placeholder', 'title']) {
        const v = e.getAttribute(a);
        if (v && unique(tag + '[' + a + '=' + q(v) + ']')) return tag + '[' + a + '=' + q(v) + ']';
    }
    const type = e.getAttribute('type');
    if (type && unique(tag + '[type=' + q(type) + ']')) return tag + '[type=' + q(type) + ']';
    // A link's query may carry a value of this visit (a transaction): a part of it that
    // finds the link alone is kept before the whole address.
    const href = e.getAttribute('href');
    if (tag === 'a' && href) {
        const query = href.split('?')[1];
        for (const pair of (query || '').split('&')) {
            if (pair && unique('a[href*=' + q(pair) + ']')) return 'a[href*=' + q(pair) + ']';
        }
        // So may its path (an interaction's id before `/abort`): its last segment first.
        const path = href.split('?')[0].split('#')[0];
        const last = path.slice(path.replace(/\/$/, '').lastIndexOf('/'));
        if (last.length > 1 && unique('a[href$=' + q(last) + ']')) return 'a[href$=' + q(last) + ']';
        if (unique('a[href=' + q(href) + ']')) return 'a[href=' + q(href) + ']';
    }
    const parts = [];
    let el = e;
    while (el && el.tagName.toLowerCase() !== 'html') {
        if (el !== e && el.id && unique('#' + CSS.escape(el.id))) { parts.unshift('#' + CSS.escape(el.id)); break; }
        let k = 1;
        for (let s = el.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === el.tagName) k++;
        parts.unshift(el.tagName.toLowerCase() + ':nth-of-type(' + k + ')');
        el = el.parentElement;
    }
    return parts.join(' > ');
};
const text = e => (e.innerText || e.textContent || '').trim().replace(/\s+/g, ' ');
const labelOf = e => {
    if (e.labels && e.labels.length) return text(e.labels[0]);
    const by = e.getAttribute('aria-labelledby');
    if (by) return by.split(/\s+/).map(id => { const l = document.getElementById(id); return l ? text(l) : ''; }).join(' ');
    return '';
};
const words = e => {
    const tag = e.tagName.toLowerCase();
    if (tag === 'button' || tag === 'a' || e.getAttribute('role') === 'button' || e.getAttribute('role') === 'link') return text(e) || e.value || e.getAttribute('aria-label') || e.getAttribute('title') || '';
    if (tag === 'input' && ['submit', 'button', 'image'].includes(e.type)) return e.value || e.getAttribute('aria-label') || e.getAttribute('alt') || '';
    return labelOf(e) || e.getAttribute('aria-label') || e.getAttribute('placeholder') || e.getAttribute('title') || '';
};
const shown = e => {
    const s = getComputedStyle(e);
    if (s.visibility === 'hidden' || s.display === 'none' || e.disabled) return false;
    for (let p = e.parentElement; p; p = p.parentElement) {
        const ps = getComputedStyle(p);
        if (ps.display === 'none' || ps.visibility === 'hidden') return false;
    }
    const r = e.getBoundingClientRect();
    return (r.width > 0 && r.height > 0) || e.type === 'checkbox' || e.type === 'radio';
};
const zero = e => { const r = e.getBoundingClientRect(); return r.width < 2 || r.height < 2 || getComputedStyle(e).opacity === '0'; };
const cookie = e => {
    for (let p = e; p && p !== document.body; p = p.parentElement) {
        const about = ((p.id || '') + ' ' + (typeof p.className === 'string' ? p.className : '') + ' ' + (p.getAttribute('aria-label') || '')).toLowerCase();
        if (about.includes('cookie') || about.includes('gdpr')) return true;
    }
    return false;
};
const forms = Array.from(document.forms);
const out = [];
for (const e of document.querySelectorAll('input, select, textarea, button, a[href], [role=button], [role=link], [role=checkbox], [role=radio]')) {
    if (out.length >= 300) break;
    if (e.type === 'hidden' || !shown(e)) continue;
    const tag = e.tagName.toLowerCase();
    const hints = [e.id, e.getAttribute('name'), e.getAttribute('autocomplete'), e.getAttribute('placeholder'),
                   e.getAttribute('aria-label'), labelOf(e), e.getAttribute('role')].filter(Boolean).join(' ').toLowerCase();
    out.push({
        tag, type: (e.getAttribute('role') === 'checkbox' ? 'checkbox' : e.getAttribute('role') === 'radio' ? 'radio' : (e.type || '')).toLowerCase(),
        selector: selector(e), words: words(e).slice(0, 80), hints, zero: zero(e),
        checked: !!e.checked || e.getAttribute('aria-checked') === 'true',
        form: e.form ? forms.indexOf(e.form) : -1, cookie: cookie(e),
        href: tag === 'a' ? (e.getAttribute('href') || '') : '',
        options: tag === 'select' ? Array.from(e.options).filter(o => !o.disabled).map(o => [o.value, text(o)]) : [],
        // What was typed is never read back (a password).
        value: tag === 'input' && !['radio', 'checkbox', 'submit', 'button'].includes(e.type) ? '' : (e.value || '').toString().slice(0, 80),
    });
}
return { url: location.href, text: (document.body ? document.body.innerText : '').toLowerCase().slice(0, 4000), elements: out };
