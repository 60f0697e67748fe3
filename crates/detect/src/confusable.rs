//! Look-alike letters: characters of other scripts and styled alphabets that render like ASCII
//! letters. Used to fold homoglyphs back when hidden text is removed, and by the injection
//! classifier's normalization.

/// The ASCII letter a look-alike character stands for, for letters of other scripts and styled
/// alphabets that render like Latin ones. Returns `None` for everything else.
pub fn confusable(c: char) -> Option<char> {
    let cp = c as u32;
    // full-width ASCII
    if (0xFF01..=0xFF5E).contains(&cp) {
        return char::from_u32(cp - 0xFF01 + 0x21).map(|c| c.to_ascii_lowercase());
    }
    // mathematical alphanumeric letters: 13 styled alphabets of 52 letters each
    if (0x1D400..=0x1D6A3).contains(&cp) {
        let i = (cp - 0x1D400) % 52;
        let base = if i < 26 {
            b'a' + i as u8
        } else {
            b'a' + (i - 26) as u8
        };
        return Some(base as char);
    }
    // mathematical digits
    if (0x1D7CE..=0x1D7FF).contains(&cp) {
        return Some((b'0' + ((cp - 0x1D7CE) % 10) as u8) as char);
    }
    // circled and parenthesized letters
    if (0x24B6..=0x24CF).contains(&cp) {
        return Some((b'a' + (cp - 0x24B6) as u8) as char);
    }
    if (0x24D0..=0x24E9).contains(&cp) {
        return Some((b'a' + (cp - 0x24D0) as u8) as char);
    }
    if (0x249C..=0x24B5).contains(&cp) {
        return Some((b'a' + (cp - 0x249C) as u8) as char);
    }
    // regional indicator symbols (rendered as boxed letters)
    if (0x1F1E6..=0x1F1FF).contains(&cp) {
        return Some((b'a' + (cp - 0x1F1E6) as u8) as char);
    }
    Some(match c {
        // Cyrillic
        'а' | 'А' => 'a',
        'В' | 'в' | 'Ь' | 'ь' => 'b',
        'с' | 'С' | 'ϲ' | 'Ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ё' | 'Ё' => 'e',
        'һ' | 'Һ' | 'Н' | 'н' => 'h',
        'і' | 'І' | 'ӏ' | 'Ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'К' | 'к' => 'k',
        'М' | 'м' => 'm',
        'о' | 'О' => 'o',
        'р' | 'Р' => 'p',
        'ԛ' => 'q',
        'ѕ' | 'Ѕ' => 's',
        'Т' | 'т' => 't',
        'у' | 'У' => 'y',
        'х' | 'Х' => 'x',
        'ԝ' | 'Ԝ' => 'w',
        'ɡ' => 'g',
        // Greek
        'α' | 'Α' => 'a',
        'Β' | 'β' => 'b',
        'ε' | 'Ε' => 'e',
        'Η' => 'h',
        'ι' | 'Ι' => 'i',
        'κ' | 'Κ' => 'k',
        'Μ' => 'm',
        'ν' | 'Ν' => 'n',
        'ο' | 'Ο' => 'o',
        'ρ' | 'Ρ' => 'p',
        'τ' | 'Τ' => 't',
        'υ' | 'Υ' => 'u',
        'χ' | 'Χ' => 'x',
        'Ζ' => 'z',
        // Latin look-alikes outside ASCII
        'ı' => 'i',
        'ℓ' => 'l',
        'ⅰ' => 'i',
        'ⅴ' => 'v',
        'ⅹ' => 'x',
        _ => return None,
    })
}
