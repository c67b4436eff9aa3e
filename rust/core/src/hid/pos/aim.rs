//! AIM symbology identifiers (ISO/IEC 15424) to ProGlove symbology names:
//! the one table, also used by the Python package through the binding.

/// The ProGlove symbology name for an AIM symbology identifier
/// (`]` + symbology character + modifier, ISO/IEC 15424), e.g. `"]E0"` ->
/// `"EAN-13"`. Unknown identifiers and `]X`/`]Y`/`]Z` (other, system
/// expansion, non-barcode) give `None`.
///
/// Names follow the Streams API's spelling ("CODE 128", "QR CODE",
/// "DATA MATRIX", ...); GS1 variants (`]C1`, `]d2`, `]Q3`) are named after
/// their symbology, the AIM identifier tells them apart. UPC-A and UPC-E
/// have no identifier of their own (they are `]E0`); see
/// [`symbology_name_for`].
pub fn symbology_name(aim: &str) -> Option<&'static str> {
    let mut it = aim.chars();
    if it.next()? != ']' {
        return None;
    }
    let code = it.next()?;
    let modifier = it.next();
    Some(match code {
        'A' => "CODE 39",
        'B' => "TELEPEN",
        'C' => "CODE 128",
        'd' => "DATA MATRIX",
        'E' => match modifier {
            Some('4') => "EAN-8",
            Some('1') | Some('2') => return None, // add-on alone
            _ => "EAN-13",
        },
        'e' => "GS1 DATABAR",
        'F' => "CODABAR",
        'G' => "CODE 93",
        'H' => "CODE 11",
        'I' => "INTERLEAVED 2 OF 5",
        'K' => "CODE 16K",
        'L' => "PDF417",
        'M' => "MSI",
        'O' => "CODABLOCK",
        'P' => "PLESSEY",
        'Q' => "QR CODE",
        'R' => "IATA 2 OF 5",
        'S' => "STANDARD 2 OF 5",
        'U' => "MAXICODE",
        'z' => "AZTEC",
        'h' => "HAN XIN",
        _ => return None,
    })
}

/// [`symbology_name`], telling UPC-A (12 digits) and UPC-E (6 to 8 digits)
/// from EAN-13 under `]E0` by the data, as scanners that do not expand
/// UPC codes to 13 digits send them.
pub fn symbology_name_for(aim: &str, data: &[u8]) -> Option<&'static str> {
    let name = symbology_name(aim)?;
    if name == "EAN-13" && aim.get(..3) == Some("]E0") && data.iter().all(u8::is_ascii_digit) {
        return Some(match data.len() {
            12 => "UPC-A",
            6..=8 => "UPC-E",
            _ => name,
        });
    }
    Some(name)
}

#[cfg(test)]
mod tests;
