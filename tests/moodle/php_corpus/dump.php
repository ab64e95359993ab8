<?php
// Appended (auto_append_file) to each corpus case by tests/moodle/test_php_differential.py:
// writes every top-level variable and user constant as type-tagged JSON, floats as their
// IEEE bits and strings as hex bytes, so the comparison in Python is exact.
function vigil_tag($v, $depth = 0) {
    if ($depth > 80) return ['deep'];
    if ($v === null) return ['N'];
    if (is_bool($v)) return ['b', $v];
    if (is_int($v)) return ['i', (string) $v];
    if (is_float($v)) return ['d', is_nan($v) ? 'NAN' : bin2hex(pack('E', $v))];
    if (is_string($v)) return ['s', bin2hex($v)];
    $out = [];
    if (is_array($v)) {
        foreach ($v as $k => $x) {
            $out[] = [is_int($k) ? ['i', (string) $k] : ['s', bin2hex($k)], vigil_tag($x, $depth + 1)];
        }
        return ['a', $out];
    }
    if (is_object($v) && !($v instanceof Closure)) {
        foreach (get_object_vars($v) as $k => $x) {
            $out[] = [['s', bin2hex((string) $k)], vigil_tag($x, $depth + 1)];
        }
        return ['o', get_class($v), $out];
    }
    return ['other', gettype($v)];
}
$vigil_out = ['vars' => [], 'constants' => []];
foreach (get_defined_vars() as $vigil_name => $vigil_value) {
    if ($vigil_name[0] === '_' || in_array($vigil_name, ['argv', 'argc', 'GLOBALS', 'vigil_out', 'vigil_name', 'vigil_value'], true)) {
        continue;
    }
    $vigil_out['vars'][$vigil_name] = vigil_tag($vigil_value);
}
foreach (get_defined_constants(true)['user'] ?? [] as $vigil_name => $vigil_value) {
    $vigil_out['constants'][$vigil_name] = vigil_tag($vigil_value);
}
file_put_contents(getenv('VIGIL_DUMP'), json_encode($vigil_out));
