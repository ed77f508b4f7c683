/**
 * Diagnosis engine (rules plus an ONNX model). Built by the diagnosis issue;
 * main.ts starts it when it exists. This seam keeps the folder in git.
 */
export const DIAGNOSIS_AVAILABLE = false;
