// UI strings: one JSON file per language under locales/. English is always loaded as the fallback; the
// language comes from the saved choice, else navigator.languages, else English.
// In the HTML, data-i18n="key" sets an element's text and data-i18n-attr="attr:key;attr:key" its
// attributes; code calls t(key, {param}) for "{param}" placeholders.

export const LANGUAGES = { en: "English", es: "Español", fr: "Français", de: "Deutsch", zh: "中文", ja: "日本語" };
const STORAGE_KEY = "voxgate.language";

const loaded = new Map();
let strings = {};
let fallback = {};
let current = "en";
const listeners = new Set();

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage may be disabled
  }
}

/** The saved language if any, else the first of the browser's languages we have, else English. */
export function pickLanguage(saved = stored(), preferred = navigator.languages || [navigator.language]) {
  if (saved && saved in LANGUAGES) return saved;
  for (const tag of preferred) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (base in LANGUAGES) return base;
  }
  return "en";
}

async function load(lang) {
  if (!loaded.has(lang)) {
    const response = await fetch(`/static/locales/${lang}.json`);
    if (!response.ok) throw new Error(`locale ${lang}: HTTP ${response.status}`);
    loaded.set(lang, await response.json());
  }
  return loaded.get(lang);
}

export const language = () => current;

/** The string for `key` in the current language, with {name} placeholders filled from `params`. */
export function t(key, params = {}) {
  const template = strings[key] ?? fallback[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** Translate every data-i18n element under `root`. */
export function translate(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n, element.dataset.i18nParams ? JSON.parse(element.dataset.i18nParams) : {});
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(";")) {
      const [attribute, key] = pair.split(":");
      if (attribute && key) element.setAttribute(attribute.trim(), t(key.trim()));
    }
  }
}

/** Switch the UI language (remembered when `remember`), retranslate the page and tell listeners. */
export async function setLanguage(lang, { remember = true } = {}) {
  if (!(lang in LANGUAGES)) lang = "en";
  try {
    fallback = await load("en");
    strings = await load(lang);
  } catch (error) {
    // Without the files the page keeps the English text in its HTML: degraded, never blank.
    console.warn("voxgate: could not load UI strings", error);
    strings = loaded.get(lang) || {};
  }
  current = lang;
  document.documentElement.lang = lang;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      /* not remembered: storage is disabled */
    }
  }
  translate();
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}
