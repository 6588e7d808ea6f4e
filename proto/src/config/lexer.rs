//! Splits the config into words and the few characters GRUB treats as syntax.
//!
//! As in GRUB's lexer, unquoted `{`, `}`, `;` and newline end a word and are tokens of their
//! own, `#` at the start of a word starts a comment, and quoted text may span lines. The
//! lexer is a small copyable cursor, so the parser can come back to any point (an entry's
//! body, a command's arguments) and read it again without storing anything.

use super::error::{ConfigError, ConfigErrorKind, Pos};
use super::text::Text;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    offset: usize,
    pos: Pos,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Word<'a> {
    pub text: Text<'a>,
    pub at: Pos,
    /// An unescaped `$` outside single quotes: GRUB would expand a variable here.
    pub has_variable: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Token<'a> {
    Word(Word<'a>),
    /// Newline or `;`: the end of a command.
    EndOfCommand,
    OpenBrace(Pos),
    CloseBrace(Pos),
    EndOfFile(Pos),
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer {
            text,
            offset: 0,
            pos: Pos::START,
        }
    }

    pub fn pos(&self) -> Pos {
        self.pos
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.offset..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(c)
    }

    pub fn next_token(&mut self) -> Result<Token<'a>, ConfigError> {
        loop {
            let at = self.pos;
            let Some(c) = self.peek() else {
                return Ok(Token::EndOfFile(at));
            };
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\\' if self.peek_second() == Some('\n') => {
                    // Line continuation between words.
                    self.bump();
                    self.bump();
                }
                '#' => self.skip_comment(),
                '\n' | ';' => {
                    self.bump();
                    return Ok(Token::EndOfCommand);
                }
                '{' => {
                    self.bump();
                    return Ok(Token::OpenBrace(at));
                }
                '}' => {
                    self.bump();
                    return Ok(Token::CloseBrace(at));
                }
                '|' | '&' | '<' | '>' => {
                    let kind = ConfigErrorKind::UnsupportedOperator { operator: c };
                    return Err(ConfigError::at(at, kind));
                }
                _ => return self.word(at).map(Token::Word),
            }
        }
    }

    fn skip_comment(&mut self) {
        let line_len = self.rest().find('\n').unwrap_or(self.rest().len());
        // A comment holds no newline, so only the column moves.
        let chars = self.rest().get(..line_len).unwrap_or("").chars().count();
        self.offset += line_len;
        let chars = u32::try_from(chars).unwrap_or(u32::MAX);
        self.pos.column = self.pos.column.saturating_add(chars);
    }

    fn word(&mut self, at: Pos) -> Result<Word<'a>, ConfigError> {
        let start = self.offset;
        let mut has_variable = false;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '{' | '}' | '|' | '&' | '<' | '>' => break,
                '\\' => {
                    self.bump();
                    self.bump();
                }
                '\'' => {
                    let open = self.pos;
                    self.bump();
                    self.skip_quoted('\'', open, &mut has_variable)?;
                }
                '"' => {
                    let open = self.pos;
                    self.bump();
                    self.skip_quoted('"', open, &mut has_variable)?;
                }
                '$' => {
                    has_variable = true;
                    let dollar = self.pos;
                    self.bump();
                    if self.peek() == Some('{') {
                        self.skip_braced_variable(dollar)?;
                    }
                }
                _ => {
                    self.bump();
                }
            }
        }
        let raw = self.text.get(start..self.offset).unwrap_or("");
        Ok(Word {
            text: Text::new(raw),
            at,
            has_variable,
        })
    }

    /// Skips to the closing quote (the opening one is already consumed).
    fn skip_quoted(
        &mut self,
        quote: char,
        open: Pos,
        has_variable: &mut bool,
    ) -> Result<(), ConfigError> {
        loop {
            match self.bump() {
                None => {
                    let kind = ConfigErrorKind::UnterminatedQuote { quote };
                    return Err(ConfigError::at(open, kind));
                }
                Some(c) if c == quote => return Ok(()),
                Some('\\') if quote == '"' => {
                    self.bump();
                }
                Some('$') if quote == '"' => *has_variable = true,
                Some(_) => {}
            }
        }
    }

    fn skip_braced_variable(&mut self, dollar: Pos) -> Result<(), ConfigError> {
        loop {
            match self.bump() {
                None => {
                    let kind = ConfigErrorKind::UnterminatedVariable;
                    return Err(ConfigError::at(dollar, kind));
                }
                Some('}') => return Ok(()),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> std::vec::Vec<std::string::String> {
        use std::format;
        let mut lexer = Lexer::new(text);
        let mut out = std::vec::Vec::new();
        loop {
            match lexer.next_token() {
                Ok(Token::Word(w)) => out.push(format!("w:{}", w.text)),
                Ok(Token::EndOfCommand) => out.push(";".into()),
                Ok(Token::OpenBrace(_)) => out.push("{".into()),
                Ok(Token::CloseBrace(_)) => out.push("}".into()),
                Ok(Token::EndOfFile(_)) => return out,
                Err(e) => {
                    out.push(format!("error {e}"));
                    return out;
                }
            }
        }
    }

    #[test]
    fn braces_and_semicolons_split_words() {
        assert_eq!(
            tokens("a{b}c;d"),
            ["w:a", "{", "w:b", "}", "w:c", ";", "w:d"]
        );
    }

    #[test]
    fn comment_only_at_word_start() {
        assert_eq!(tokens("a#b # c d\ne"), ["w:a#b", ";", "w:e"]);
    }

    #[test]
    fn quotes_may_span_lines_and_positions_follow() {
        let mut lexer = Lexer::new("x 'a\nb' y");
        let _ = lexer.next_token();
        let Ok(Token::Word(w)) = lexer.next_token() else {
            panic!()
        };
        assert_eq!(std::format!("{}", w.text), "a\nb");
        let Ok(Token::Word(y)) = lexer.next_token() else {
            panic!()
        };
        assert_eq!(y.at, Pos { line: 2, column: 4 });
    }

    #[test]
    fn continuation_joins_lines() {
        assert_eq!(tokens("a \\\n b\\\nc"), ["w:a", "w:bc"]);
    }

    #[test]
    fn variables_are_flagged_but_not_in_single_quotes() {
        let mut lexer = Lexer::new("$x '$y' \"$z\" \\$w ${a b}");
        let flags: std::vec::Vec<bool> = core::iter::from_fn(|| match lexer.next_token() {
            Ok(Token::Word(w)) => Some(w.has_variable),
            _ => None,
        })
        .collect();
        assert_eq!(flags, [true, false, true, false, true]);
    }
}
